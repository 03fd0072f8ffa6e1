import { Inject, Injectable } from '@nestjs/common';
import { RungateError, type AgentTokenView, type AgentTokensReply, type AgentTokensRequest, type Identity } from '@rungate/contracts';
import { actorOf, type AuditSink } from '@rungate/messaging';
import { TokenAdmin, TokenStore, type AgentTokenRecord } from '@rungate/persistence';
import { AUDIT_SINK, AttemptAudit, CONFIG, type ConfigHolder } from '@rungate/runtime';
import { PolicyDatabase } from './policy-database';

function view(record: AgentTokenRecord): AgentTokenView {
  return {
    id: record.id,
    user: record.user,
    agent: record.agent,
    ...(record.runbooks ? { runbooks: record.runbooks } : {}),
    ...(record.connections ? { connections: record.connections } : {}),
    scopes: record.scopes,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    ...(record.revokedAt ? { revokedAt: record.revokedAt } : {}),
  };
}

/**
 * A user's own agent tokens (ADR 23), for the web console: the same store and the same
 * audited TokenAdmin as `rungate token`, with the user as the operator. A user sees, makes and
 * revokes only their own; a new token gets no scope its maker lacks, and a maker whose own
 * token is narrowed to runbooks or connections makes none (it could widen itself).
 */
@Injectable()
export class AgentTokens {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly database: PolicyDatabase,
    private readonly attempts: AttemptAudit,
  ) {}

  /** A refusal is an attempt on the record (ADR 17), then answered. */
  async handle(request: AgentTokensRequest): Promise<AgentTokensReply> {
    try {
      return await this.perform(request);
    } catch (error) {
      if (error instanceof RungateError && (error.code === 'FORBIDDEN' || error.code === 'BAD_REQUEST')) {
        await this.attempts.record({
          source: 'policy',
          actor: actorOf(request.identity, {}),
          code: 'token-refused',
          reason: error.message,
          answered: error.code,
          details: { action: request.action },
        });
      }
      throw error;
    }
  }

  private async perform(request: AgentTokensRequest): Promise<AgentTokensReply> {
    const { identity } = request;
    if (!this.database.configured) throw new RungateError('SERVICE_UNAVAILABLE', 'agent tokens live in Rungate\'s database, and policy has none configured (DATABASE_URL)');
    if (!this.config.current.users.some((user) => user.name === identity.user)) {
      throw new RungateError('FORBIDDEN', `${identity.user} is not in users: of the configuration, and an agent token authenticates only a user there`);
    }
    const store = new TokenStore(await this.database.open());
    const admin = new TokenAdmin(store, this.audit, 'console', identity.user);
    let created: AgentTokensReply['created'];
    if (request.action === 'create') {
      this.checkCanMake(identity, request.scopes ?? []);
      const made = await admin.create({
        user: identity.user,
        agent: request.agent,
        ttlMs: request.ttlMs,
        ...(request.runbooks ? { runbooks: request.runbooks } : {}),
        ...(request.connections ? { connections: request.connections } : {}),
        ...(request.scopes?.length ? { scopes: request.scopes } : {}),
      });
      created = { id: made.record.id, token: made.token };
    } else if (request.action === 'revoke') {
      const own = (await store.list()).find((record) => record.id === request.id && record.user === identity.user);
      // Someone else's token is answered like one that does not exist.
      if (!own) throw new RungateError('BAD_REQUEST', `you have no token ${request.id}`);
      await admin.revoke(own.id);
    }
    const tokens = (await store.list()).filter((record) => record.user === identity.user).map(view);
    return { tokens, ...(created ? { created } : {}) };
  }

  private checkCanMake(identity: Identity, scopes: readonly string[]): void {
    if (identity.scope.runbooks || identity.scope.connections) {
      throw new RungateError('FORBIDDEN', 'a token narrowed to runbooks or connections may not make tokens: sign in with your own identity');
    }
    const missing = scopes.filter((scope) => !identity.scopes?.includes(scope as 'audit:read'));
    if (missing.length > 0) throw new RungateError('FORBIDDEN', `you may not give a token ${missing.join(', ')}: your own sign-in does not have it`);
  }
}
