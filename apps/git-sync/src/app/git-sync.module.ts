import { Module, type DynamicModule } from '@nestjs/common';
import { CatalogService } from './catalog.service';
import { CatalogController, StatusController, WebhookController } from './git-sync.controller';

@Module({})
export class GitSyncModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: GitSyncModule,
      imports: [runtime],
      controllers: [CatalogController, WebhookController, StatusController],
      providers: [CatalogService],
    };
  }
}
