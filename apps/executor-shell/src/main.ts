import { runService } from '@rungate/runtime';
import { executorShellService } from '@rungate/service-executor-shell';

runService(executorShellService);
