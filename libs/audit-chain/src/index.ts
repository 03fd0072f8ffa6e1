export * from './lib/chain';
