import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { executorModule, executorSource } from '@rungate/executors';
import { ShellAdapter } from './shell.adapter';

export const SOURCE = executorSource('shell');

export interface ExecutorShellOptions {
  /** How long in-flight runs may finish at shutdown before their process groups are stopped. */
  shutdownGraceMs?: number;
  /** How long SIGTERM has before SIGKILL when a run is stopped. */
  killGraceMs?: number;
  /** Where run directories are made (default: the executor's TMPDIR). */
  workdirBase?: string;
}

@Module({})
export class ExecutorShellModule {
  static register(runtime: DynamicModule, options: ExecutorShellOptions = {}): DynamicModule {
    const { shutdownGraceMs, ...adapterOptions } = options;
    return executorModule(ExecutorShellModule, runtime, {
      type: 'shell',
      shutdownGraceMs,
      adapter: () => new ShellAdapter(new Logger('shell'), adapterOptions),
    });
  }
}
