import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { executorModule, executorSource } from '@rungate/executors';
import { MysqlAdapter } from './mysql.adapter';
import { MysqlTargets } from './mysql-targets';

export const SOURCE = executorSource('mysql');

export interface ExecutorMysqlOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
}

@Module({})
export class ExecutorMysqlModule {
  static register(runtime: DynamicModule, options: ExecutorMysqlOptions = {}): DynamicModule {
    return executorModule(ExecutorMysqlModule, runtime, {
      type: 'mysql',
      shutdownGraceMs: options.shutdownGraceMs,
      adapter: () => new MysqlAdapter(new MysqlTargets(new Logger('mysql')), new Logger('mysql')),
    });
  }
}
