import { userInfo } from 'node:os';
import { RungateError } from '@rungate/contracts';
import type { AuditSink } from '@rungate/messaging';
import type { AgentTokenRecord, NewAgentToken, TokenStore } from './token-store';

/** How a token change reached the store, recorded with it. */
export type TokenChannel = 'database' | 'data-dir' | 'admin-socket' | 'console';

/** The operator making a change: the OS user running the command (or, over the admin socket, running serve — the same user, see ADR 11). */
export function operatorName(): string {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    // No passwd entry (some containers): the environment is all there is.
    return process.env['USER'] ? `operator:${process.env['USER']}` : 'operator';
  }
}

/**
 * Agent-token changes, each an audit event. A change that cannot be audited does not stand:
 * a created token is revoked again before anyone has seen it. A revocation is the exception
 * and stays: undoing it would re-arm a token its operator believes must stop working; the
 * failure is reported instead.
 */
export class TokenAdmin {
  constructor(
    private readonly store: TokenStore,
    private readonly audit: AuditSink,
    private readonly channel: TokenChannel,
    private readonly operator: string = operatorName(),
  ) {}

  async create(input: NewAgentToken): Promise<{ token: string; record: AgentTokenRecord }> {
    const created = await this.store.create(input);
    await this.audited('audit.admin.token.created', created.record, () => this.store.revoke(created.record.id));
    return created;
  }

  list(): Promise<AgentTokenRecord[]> {
    return this.store.list();
  }

  /** Undefined when there is no such token. */
  async revoke(id: string): Promise<AgentTokenRecord | undefined> {
    const revoked = await this.store.revoke(id);
    if (revoked) await this.audited('audit.admin.token.revoked', revoked);
    return revoked;
  }

  private async audited(type: string, record: AgentTokenRecord, undo?: () => Promise<unknown>): Promise<void> {
    try {
      await this.audit.publish({
        type,
        source: 'cli',
        actor: { user: this.operator, groups: [] },
        details: {
          tokenId: record.id,
          user: record.user,
          agent: record.agent,
          expiresAt: record.expiresAt,
          runbooks: record.runbooks,
          connections: record.connections,
          scopes: record.scopes,
          ...(record.human ? { human: true } : {}),
          via: this.channel,
        },
      });
    } catch (error) {
      const reason = `the change could not be audited (${(error as Error).message})`;
      if (!undo) throw new RungateError('AUDIT_UNAVAILABLE', `${reason}; the token stays revoked`);
      const undone = await undo().then(
        () => 'it was undone',
        (undoError: unknown) => `undoing it failed too (${(undoError as Error).message}): revoke ${record.id} once the database is back`,
      );
      throw new RungateError('AUDIT_UNAVAILABLE', `${reason}; ${undone}`);
    }
  }
}

/** `token list`'s line for one token. */
export function formatTokenLine(t: AgentTokenRecord, now = Date.now()): string {
  const state = t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
  const scope = [
    t.runbooks ? `runbooks=${t.runbooks.join(',')}` : '',
    t.connections ? `connections=${t.connections.join(',')}` : '',
    t.scopes.length > 0 ? `scopes=${t.scopes.join(',')}` : '',
    t.human ? 'human' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `${t.id}  ${state.padEnd(7)}  ${t.user}  ${t.agent}  expires ${t.expiresAt}${scope ? `  ${scope}` : ''}`;
}
