export * from './lib/data-source';
export * from './lib/audit-store';
export * from './lib/token-store';
