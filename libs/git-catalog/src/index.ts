export * from './lib/blob-reader';
export * from './lib/catalog-builder';
export * from './lib/git-environment';
export * from './lib/git-mirror';
export * from './lib/paths';
export * from './lib/repository-syncer';
export * from './lib/sync-coordination';
export * from './lib/webhook-signature';
