export { executorMysqlDefinition, executorMysqlService } from './lib/definition';
