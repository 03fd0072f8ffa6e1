import { AgentTokens } from './agent-tokens';
import { Module, type DynamicModule } from '@nestjs/common';
import { AdminAuditor } from './admin-auditor';
import { Approvals } from './approvals';
import { ApprovedRuns } from './approved-runs';
import { Authenticator } from './authenticator';
import { Authorizer } from './authorizer';
import { CatalogStore } from './catalog.store';
import { ExplorationAuthorizer } from './exploration-authorizer';
import { GuardrailSet } from './guardrail-set';
import { HeldRuns } from './held-runs';
import { IdempotencyStore } from './idempotency-store';
import { PolicyController } from './policy.controller';
import { PolicyDatabase } from './policy-database';
import { RunStatusTool } from './run-status-tool';
import { RunTasks } from './run-tasks';
import { TicketSigner } from './ticket-signer';

@Module({})
export class PolicyModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: PolicyModule,
      imports: [runtime],
      controllers: [PolicyController],
      providers: [CatalogStore, TicketSigner, GuardrailSet, PolicyDatabase, IdempotencyStore, HeldRuns, RunStatusTool, ApprovedRuns, Approvals, RunTasks, Authenticator, ExplorationAuthorizer, Authorizer, AdminAuditor, AgentTokens],
    };
  }
}
