export * from './lib/chain';
export * from './lib/audit-text';
export * from './lib/run-status';
export * from './lib/stream-message';
