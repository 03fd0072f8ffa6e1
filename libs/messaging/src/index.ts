export * from './lib/nats';
export * from './lib/bus';
export * from './lib/answer';
export * from './lib/rpc-server';
export * from './lib/audit-stream';
export * from './lib/audit-publisher';
export * from './lib/run-ledger';
