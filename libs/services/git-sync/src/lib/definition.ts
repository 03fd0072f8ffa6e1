import type { ServiceDefinition } from '@rungate/runtime';
import { GitSyncModule } from './git-sync.module';

export const gitSyncService: ServiceDefinition = {
  name: 'git-sync',
  queue: 'git-sync',
  // Webhook signatures are checked over the exact bytes received, read (bounded) by the handler.
  bodyParser: false,
  http: (config) => ({ host: config.gateway.host, port: config.gitSync.port }),
  module: (runtime) => GitSyncModule.register(runtime),
};
