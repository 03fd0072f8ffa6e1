import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { executorModule, executorSource } from '@rungate/executors';
import { SshAdapter, type SshAdapterOptions } from './ssh.adapter';
import { SshTargets } from './ssh-targets';

export const SOURCE = executorSource('ssh');

export interface ExecutorSshOptions extends SshAdapterOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
  /** The connection pools to use (tests count their warm spares); default new ones. */
  targets?: SshTargets;
}

@Module({})
export class ExecutorSshModule {
  static register(runtime: DynamicModule, options: ExecutorSshOptions = {}): DynamicModule {
    return executorModule(ExecutorSshModule, runtime, {
      type: 'ssh',
      shutdownGraceMs: options.shutdownGraceMs,
      adapter: () => {
        const log = new Logger('ssh');
        return new SshAdapter(options.targets ?? new SshTargets(log), log, options);
      },
    });
  }
}
