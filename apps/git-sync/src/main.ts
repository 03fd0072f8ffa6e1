import { runService } from '@rungate/runtime';
import { gitSyncService } from '@rungate/service-git-sync';

runService(gitSyncService);
