export * from './lib/context';
export * from './lib/readiness';
export * from './lib/runtime.module';
export * from './lib/bootstrap';
export * from './lib/config-watcher';
export * from './lib/logging';
export * from './lib/metrics';
export * from './lib/request-body';
