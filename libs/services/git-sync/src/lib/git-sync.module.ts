import { Module, type DynamicModule } from '@nestjs/common';
import { CatalogController } from './catalog.controller';
import { CatalogRegistry } from './catalog-registry';
import { WebhookController } from './webhook.controller';

@Module({})
export class GitSyncModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: GitSyncModule,
      imports: [runtime],
      controllers: [CatalogController, WebhookController],
      providers: [CatalogRegistry],
    };
  }
}
