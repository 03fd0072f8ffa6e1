import { AgentTokens } from './agent-tokens';
import { Module, type DynamicModule } from '@nestjs/common';
import { AdminAuditor } from './admin-auditor';
import { Authenticator } from './authenticator';
import { Authorizer } from './authorizer';
import { CatalogStore } from './catalog.store';
import { ExplorationAuthorizer } from './exploration-authorizer';
import { GuardrailSet } from './guardrail-set';
import { IdempotencyStore } from './idempotency-store';
import { PolicyController } from './policy.controller';
import { PolicyDatabase } from './policy-database';
import { TicketSigner } from './ticket-signer';

@Module({})
export class PolicyModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: PolicyModule,
      imports: [runtime],
      controllers: [PolicyController],
      providers: [CatalogStore, TicketSigner, GuardrailSet, PolicyDatabase, IdempotencyStore, Authenticator, ExplorationAuthorizer, Authorizer, AdminAuditor, AgentTokens],
    };
  }
}
