export * from './lib/api';
export * from './lib/lint';
export { NUMBER } from './lib/validate';
export { POSTGRES, type SqlDialect } from './lib/dialects';
