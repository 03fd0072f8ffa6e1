export { executorSshDefinition, executorSshService } from './lib/definition';
