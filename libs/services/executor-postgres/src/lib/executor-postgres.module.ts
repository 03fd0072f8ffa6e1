import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { executorModule, executorSource } from '@rungate/executors';
import { PostgresAdapter } from './postgres.adapter';
import { PostgresTargets } from './postgres-targets';

export const SOURCE = executorSource('postgres');

export interface ExecutorPostgresOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
}

@Module({})
export class ExecutorPostgresModule {
  static register(runtime: DynamicModule, options: ExecutorPostgresOptions = {}): DynamicModule {
    return executorModule(ExecutorPostgresModule, runtime, {
      type: 'postgres',
      shutdownGraceMs: options.shutdownGraceMs,
      adapter: () => new PostgresAdapter(new PostgresTargets(new Logger('postgres')), new Logger('postgres')),
    });
  }
}
