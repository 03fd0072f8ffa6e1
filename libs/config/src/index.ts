export * from './lib/schema';
export * from './lib/load';
export * from './lib/secrets';
export * from './lib/diff';
export * from './lib/reference';
export * from './lib/audit-sinks';
export * from './lib/glob';
export * from './lib/guardrails';
export { ApprovalConfig } from './lib/primitives';
