export * from './lib/backlog';
export * from './lib/propose';
export * from './lib/schema-query';
export * from './lib/sessions';
export * from './lib/reads';
