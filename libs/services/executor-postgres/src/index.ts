export { executorPostgresDefinition, executorPostgresService } from './lib/definition';
