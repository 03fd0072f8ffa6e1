import { executorQueue } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorSshModule, SOURCE, type ExecutorSshOptions } from './executor-ssh.module';

/** The SSH executor: answers `rungate.exec.ssh.v1` in the `executors.ssh` queue group. */
export function executorSshDefinition(options: ExecutorSshOptions = {}): ServiceDefinition {
  return {
    name: SOURCE,
    queue: executorQueue('ssh'),
    module: (runtime) => ExecutorSshModule.register(runtime, options),
  };
}

export const executorSshService = executorSshDefinition();
