import { runService } from '@rungate/runtime';
import { executorSshService } from '@rungate/service-executor-ssh';

runService(executorSshService);
