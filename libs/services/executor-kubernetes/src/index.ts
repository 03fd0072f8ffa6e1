export { executorKubernetesDefinition, executorKubernetesService } from './lib/definition';
export type { ExecutorKubernetesOptions } from './lib/executor-kubernetes.module';
