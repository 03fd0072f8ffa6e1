import { runService } from '@rungate/runtime';
import { gitSyncService } from './app/definition';

runService(gitSyncService);
