import { Module, type DynamicModule } from '@nestjs/common';
import { ChainWriter } from './chain-writer';

@Module({})
export class AuditModule {
  static register(runtime: DynamicModule): DynamicModule {
    return { module: AuditModule, imports: [runtime], providers: [ChainWriter] };
  }
}
