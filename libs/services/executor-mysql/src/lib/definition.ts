import { executorQueue } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorMysqlModule, SOURCE, type ExecutorMysqlOptions } from './executor-mysql.module';

/** The MySQL/MariaDB executor: answers `rungate.exec.mysql.v1` in the `executors.mysql` queue group. */
export function executorMysqlDefinition(options: ExecutorMysqlOptions = {}): ServiceDefinition {
  return {
    name: SOURCE,
    queue: executorQueue('mysql'),
    module: (runtime) => ExecutorMysqlModule.register(runtime, options),
  };
}

export const executorMysqlService = executorMysqlDefinition();
