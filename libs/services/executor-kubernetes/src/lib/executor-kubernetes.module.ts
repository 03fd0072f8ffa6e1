import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { executorModule, executorSource } from '@rungate/executors';
import { KubeTargets } from './kube-targets';
import { KubernetesAdapter, type KubernetesAdapterOptions } from './kubernetes.adapter';

export const SOURCE = executorSource('kubernetes');

export interface ExecutorKubernetesOptions extends KubernetesAdapterOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
  /** Environment the connections' secret references resolve in (tests use their own). */
  env?: NodeJS.ProcessEnv;
}

@Module({})
export class ExecutorKubernetesModule {
  static register(runtime: DynamicModule, options: ExecutorKubernetesOptions = {}): DynamicModule {
    return executorModule(ExecutorKubernetesModule, runtime, {
      type: 'kubernetes',
      shutdownGraceMs: options.shutdownGraceMs,
      adapter: () => {
        const log = new Logger('kubernetes');
        return new KubernetesAdapter(new KubeTargets(log, options.env), log, { warmMaxIdleMs: options.warmMaxIdleMs, warmRecheckAfterMs: options.warmRecheckAfterMs });
      },
    });
  }
}
