export * from './lib/eventually';
