export * from './lib/adapter';
export * from './lib/pipeline';
export * from './lib/postgres/postgres.adapter';
export * from './lib/postgres/values';
