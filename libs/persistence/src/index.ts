export * from './lib/data-source';
export * from './lib/audit-store';
export * from './lib/audit-query';
export * from './lib/token-store';
export * from './lib/run-claims';
export * from './lib/local-audit';
export * from './lib/embedded';
export * from './lib/idempotency-keys';
