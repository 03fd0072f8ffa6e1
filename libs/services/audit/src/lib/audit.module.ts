import { Module, type DynamicModule } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditDatabase } from './audit-database';
import { AuditorAuthenticator } from './auditor-auth';
import { ChainWriter } from './chain-writer';
import { SinkHost } from './sink-host';

@Module({})
export class AuditModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: AuditModule,
      imports: [runtime],
      controllers: [AuditController],
      providers: [AuditDatabase, ChainWriter, SinkHost, AuditorAuthenticator],
    };
  }
}
