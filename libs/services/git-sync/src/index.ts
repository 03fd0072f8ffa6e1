export { gitSyncService } from './lib/definition';
