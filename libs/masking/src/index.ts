export * from './lib/detection';
export * from './lib/detectors';
export * from './lib/strategies';
export * from './lib/columns';
export * from './lib/tally';
export * from './lib/profile';
export * from './lib/mask-text';
export * from './lib/mask-output';
