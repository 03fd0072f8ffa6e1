import { executorQueue } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorShellModule, SOURCE, type ExecutorShellOptions } from './executor-shell.module';

/** The local shell executor: answers `rungate.exec.shell.v1` in the `executors.shell` queue group. */
export function executorShellDefinition(options: ExecutorShellOptions = {}): ServiceDefinition {
  return {
    name: SOURCE,
    queue: executorQueue('shell'),
    module: (runtime) => ExecutorShellModule.register(runtime, options),
  };
}

export const executorShellService = executorShellDefinition();
