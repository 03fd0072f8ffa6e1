import { runService } from '@rungate/runtime';
import { executorKubernetesService } from '@rungate/service-executor-kubernetes';

runService(executorKubernetesService);
