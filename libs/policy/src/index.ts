export * from './lib/policy-engine';
