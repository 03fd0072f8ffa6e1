export * from './lib/subjects';
export * from './lib/errors';
export * from './lib/catalog';
export * from './lib/identity';
export * from './lib/tools';
export * from './lib/execution';
export * from './lib/audit';
export * from './lib/guardrails';
