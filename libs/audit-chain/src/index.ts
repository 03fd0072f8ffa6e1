export * from './lib/audit-chain';
