export * from './lib/api';
export * from './lib/lint';
export { NUMBER } from './lib/validate';
export { POSTGRES, sqlDialectOf, type SqlDialect } from './lib/dialects';
