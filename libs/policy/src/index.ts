export * from './lib/decide';
export * from './lib/identity';
export * from './lib/tools';
export * from './lib/oidc';
export * from './lib/idempotency';
export * from './lib/builtin-tools';
