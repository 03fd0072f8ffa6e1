export * from './lib/adapter';
export * from './lib/masking';
export * from './lib/pipeline';
export * from './lib/secrets';
export * from './lib/verify-keys';
export * from './lib/process-output';
export * from './lib/shell-prelude';
export * from './lib/executor-module';
