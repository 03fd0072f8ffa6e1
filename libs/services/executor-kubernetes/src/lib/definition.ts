import { executorQueue } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorKubernetesModule, SOURCE, type ExecutorKubernetesOptions } from './executor-kubernetes.module';

/** The Kubernetes executor: answers `rungate.exec.kubernetes.v1` in the `executors.kubernetes` queue group. */
export function executorKubernetesDefinition(options: ExecutorKubernetesOptions = {}): ServiceDefinition {
  return {
    name: SOURCE,
    queue: executorQueue('kubernetes'),
    module: (runtime) => ExecutorKubernetesModule.register(runtime, options),
  };
}

export const executorKubernetesService = executorKubernetesDefinition();
