export { executorShellDefinition, executorShellService } from './lib/definition';
export type { ExecutorShellOptions } from './lib/executor-shell.module';
