import { Controller, Inject } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import {
  AgentTokensRequest,
  ApprovalsRequest,
  TasksRequest,
  type TasksReply,
  AuthenticateRequest,
  CatalogViewRequest,
  AuthorizeRequest,
  BearerAuthorizeRequest,
  type BearerAuthorizeReply,
  CatalogUpdatedEvent,
  RUN_STATUS_TOOL,
  Subjects,
  ToolsRequest,
  type AgentTokensReply,
  type ApprovalsReply,
  type AuthenticateReply,
  type CatalogViewReply,
  type AuthorizeReply,
  type Reply,
  type ToolsReply,
} from '@rungate/contracts';
import { answer, decodeCursor, encodeCursor, endWithin, PAGE_BYTES, parsePayload } from '@rungate/messaging';
import { catalogView, guardrailsHold, listTools } from '@rungate/policy';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { AgentTokens } from './agent-tokens';
import { Approvals } from './approvals';
import { Authenticator } from './authenticator';
import { Authorizer } from './authorizer';
import { CatalogStore } from './catalog.store';
import { HeldRuns } from './held-runs';
import { RunTasks } from './run-tasks';

@Controller()
export class PolicyController {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    private readonly catalog: CatalogStore,
    private readonly authorizer: Authorizer,
    private readonly authenticator: Authenticator,
    private readonly agentTokens: AgentTokens,
    private readonly approvals: Approvals,
    private readonly tasks: RunTasks,
    private readonly held: HeldRuns,
  ) {}

  @MessagePattern(Subjects.policyTokens)
  tokens(payload: unknown): Promise<Reply<AgentTokensReply>> {
    return answer(() => this.agentTokens.handle(parsePayload(AgentTokensRequest, payload)));
  }

  @MessagePattern(Subjects.policyAuthenticate)
  authenticate(payload: unknown): Promise<Reply<AuthenticateReply>> {
    return answer(() => this.authenticator.authenticate(parsePayload(AuthenticateRequest, payload).bearer));
  }

  @MessagePattern(Subjects.policyTools)
  tools(payload: unknown): Promise<Reply<ToolsReply>> {
    return answer(() => {
      const { identity, cursor } = parsePayload(ToolsRequest, payload);
      const offset = decodeCursor(cursor);
      const { connections, rules, guardrails } = this.config.current;
      // Without a database no run is held, so there is none to follow (RunStatusTool refuses the call alike).
      const tools = listTools(identity, this.catalog.entries(), connections, rules, guardrailsHold(guardrails), this.held.available).filter((t) => this.held.available || t.name !== RUN_STATUS_TOOL);
      // Thousands of tools outgrow one NATS message: pages, as MCP's tools/list cursor allows.
      const { end } = endWithin(tools, offset, PAGE_BYTES);
      return { tools: tools.slice(offset, end), ...(end < tools.length ? { nextCursor: encodeCursor(end) } : {}) };
    });
  }

  /** The runbooks tools/list gives this identity (the same decision), for the web console's catalog. */
  @MessagePattern(Subjects.policyCatalogView)
  catalogView(payload: unknown): Promise<Reply<CatalogViewReply>> {
    return answer(() => {
      const { identity } = parsePayload(CatalogViewRequest, payload);
      const { connections, rules } = this.config.current;
      const runbooks = catalogView(identity, this.catalog.entries(), connections, rules);
      const shown = new Set(runbooks.map((r) => r.repository));
      // Only repositories something is granted from: another's repository names are not for this user.
      return { repositories: this.catalog.repositories().filter((r) => shown.has(r.repository)), runbooks };
    });
  }

  /** Held runs (ADR 18 §4): what the gateway's /v1/runs API, the CLI and the console ask. */
  @MessagePattern(Subjects.policyApprovals)
  approvalsRequest(payload: unknown): Promise<Reply<ApprovalsReply>> {
    return answer(() => this.approvals.handle(parsePayload(ApprovalsRequest, payload)));
  }

  /** MCP tasks over held runs (ADR 18 §8): what the gateway's tasks/* requests ask. */
  @MessagePattern(Subjects.policyTasks)
  tasksRequest(payload: unknown): Promise<Reply<TasksReply>> {
    return answer(() => this.tasks.handle(parsePayload(TasksRequest, payload)));
  }

  @MessagePattern(Subjects.policyAuthorize)
  authorize(payload: unknown): Promise<Reply<AuthorizeReply>> {
    return answer(() => this.authorizer.authorize(parsePayload(AuthorizeRequest, payload)));
  }

  /**
   * A tools/call in one round trip (ADR 24): the bearer is authenticated exactly as on
   * authenticate.v1 — a token that does not is this request's error, recorded by the gateway as
   * then — and the call is then authorized as on authorize.v1, its refusal carried beside the identity.
   */
  @MessagePattern(Subjects.policyAuthorizeBearer)
  authorizeBearer(payload: unknown): Promise<Reply<BearerAuthorizeReply>> {
    return answer(async () => {
      const { bearer, ...call } = parsePayload(BearerAuthorizeRequest, payload);
      const { identity } = await this.authenticator.authenticate(bearer);
      const decided = await answer(() => this.authorizer.authorize({ ...call, identity }));
      return decided.ok ? { identity, decision: decided.value } : { identity, refusal: decided.error };
    });
  }

  @EventPattern(Subjects.catalogUpdated)
  async catalogUpdated(payload: unknown): Promise<void> {
    const event = CatalogUpdatedEvent.safeParse(payload);
    await this.catalog.refresh(event.success ? event.data.repository : undefined, event.success ? event.data.commit : undefined).catch(() => undefined);
  }
}
