import { executorQueue } from '@rungate/contracts';
import { PostgresAdapter } from '@rungate/executors';
import type { ServiceDefinition } from '@rungate/runtime';
import { ExecutorModule } from './executor.module';

export const executorPostgresService: ServiceDefinition = {
  name: 'executor-postgres',
  queue: executorQueue('postgres'),
  module: (runtime) => ExecutorModule.register(runtime, new PostgresAdapter(), 'executor-postgres'),
};
