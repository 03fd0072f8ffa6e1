import { executorQueue } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorPostgresModule, SOURCE, type ExecutorPostgresOptions } from './executor-postgres.module';

/** The PostgreSQL executor: answers `rungate.exec.postgres.v1` in the `executors.postgres` queue group. */
export function executorPostgresDefinition(options: ExecutorPostgresOptions = {}): ServiceDefinition {
  return {
    name: SOURCE,
    queue: executorQueue('postgres'),
    module: (runtime) => ExecutorPostgresModule.register(runtime, options),
  };
}

export const executorPostgresService = executorPostgresDefinition();
