export * from './lib/database';
export * from './lib/git';
export * from './lib/processes';
// The one `eventually`, also importable by libraries' own specs, which may not use this library.
export { eventually } from '@rungate/test-util';
export * from './lib/postgres-cluster';
export * from './lib/sshd';
export * from './lib/executor-harness';
export * from './lib/ssh-keys';
export * from './lib/rungate-bin';
export * from './lib/mysql-database';
export * from './lib/nats-server';
export * from './lib/oidc-issuer';
export * from './lib/ticket-keys';
