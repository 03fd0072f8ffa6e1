export * from './lib/database';
export * from './lib/git';
export * from './lib/processes';
export * from './lib/postgres-cluster';
export * from './lib/sshd';
export * from './lib/executor-harness';
export * from './lib/ssh-keys';
export * from './lib/rungate-bin';
