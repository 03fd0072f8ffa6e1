import { JetStreamAuditSink, connectNats, ensureAuditStream, type AuditSink } from '@rungate/messaging';
import { LocalAuditLog, TokenStore, openDatabase, type AgentTokenRecord, type NewAgentToken } from '@rungate/persistence';
import type { AccessScope, AuditEvent, AuditEventInput } from '@rungate/contracts';
import type { NatsConnection } from 'nats';
import { AdminClient, AdminUnreachable } from '../admin/admin-client';
import { AdminRoutes, AdminStatus, CreatedToken, RevokedToken, TokenList } from '../admin/protocol';
import { withDataDirDatabase } from '../data-dir/embedded';
import { DataDirInUse } from '../data-dir/lock';
import { TokenAdmin, formatTokenLine } from '@rungate/persistence';
import { databaseTarget, type DatabaseOptions } from './database';
import { RungateError } from '@rungate/contracts';
import { UsageError } from '../cli/values';

/** What every way of reaching the token store offers. */
interface Tokens {
  create(input: NewAgentToken): Promise<{ token: string; record: AgentTokenRecord }>;
  list(): Promise<AgentTokenRecord[]>;
  revoke(id: string): Promise<AgentTokenRecord | undefined>;
}

/** A running `rungate serve` does the change itself, in its own database and audit log. */
class ServeTokens implements Tokens {
  constructor(private readonly client: AdminClient) {}

  async create(input: NewAgentToken): Promise<{ token: string; record: AgentTokenRecord }> {
    const created = await this.client.call('POST', AdminRoutes.tokens, CreatedToken, input);
    if (!created) throw new RungateError('SERVICE_UNAVAILABLE', 'rungate serve has no token endpoint (an older version?)');
    return created;
  }

  async list(): Promise<AgentTokenRecord[]> {
    return (await this.client.call('GET', AdminRoutes.tokens, TokenList))?.tokens ?? [];
  }

  async revoke(id: string): Promise<AgentTokenRecord | undefined> {
    return (await this.client.call('POST', AdminRoutes.revoke(id), RevokedToken))?.record;
  }
}

/** The distributed mode's audit trail: the JetStream stream, connected only when a change is made. */
class StreamAudit implements AuditSink {
  private nc?: NatsConnection;

  async publish(event: AuditEventInput): Promise<AuditEvent> {
    this.nc ??= await connectNats({ name: 'rungate-cli', failFast: true }).catch((error: Error) => {
      throw new RungateError('SERVICE_UNAVAILABLE', `NATS is unreachable: ${error.message}`);
    });
    await ensureAuditStream(await this.nc.jetstreamManager());
    return new JetStreamAuditSink(this.nc).publish(event);
  }

  async close(): Promise<void> {
    await this.nc?.close();
  }
}

/** How long a token command waits for a `rungate serve` that holds the data directory but is still starting. */
const SERVE_START_WAIT_MS = 30_000;

async function serveAnswers(client: AdminClient): Promise<boolean> {
  try {
    return (await client.call('GET', AdminRoutes.status, AdminStatus)) !== undefined;
  } catch (error) {
    if (error instanceof AdminUnreachable) return false;
    throw error;
  }
}

/**
 * Runs `work` against the token store the options name (ADR 11): PostgreSQL with the stream
 * as audit trail; or a data directory — through its running `rungate serve`'s admin socket,
 * else opened directly (holding its lock) with the local audit log serve itself writes.
 */
async function withTokens<T>(options: DatabaseOptions, command: string, work: (tokens: Tokens) => Promise<T>): Promise<T> {
  const target = databaseTarget(options);
  if (target.kind === 'database') {
    const db = await openDatabase(target.url);
    const audit = new StreamAudit();
    try {
      return await work(new TokenAdmin(new TokenStore(db), audit, 'database'));
    } finally {
      await audit.close();
      await db.destroy();
    }
  }
  const client = AdminClient.forDataDir(target.dir);
  const deadline = Date.now() + SERVE_START_WAIT_MS;
  let waiting = false;
  for (;;) {
    if (client && (await serveAnswers(client))) return work(new ServeTokens(client));
    try {
      return await withDataDirDatabase(target.dir, command, (db) => work(new TokenAdmin(new TokenStore(db), new LocalAuditLog(db), 'data-dir')));
    } catch (error) {
      // A serve that holds the directory but does not answer yet is starting: its socket follows.
      const starting = error instanceof DataDirInUse && error.holder.command === 'rungate serve' && client !== undefined;
      if (!starting || Date.now() > deadline) throw error;
      if (!waiting) process.stderr.write(`waiting for rungate serve (pid ${error.holder.pid}) to open its admin socket…\n`);
      waiting = true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export interface CreateTokenOptions extends DatabaseOptions {
  user: string;
  agent?: string;
  human?: boolean;
  ttl: number;
  runbooks?: string[];
  connections?: string[];
  scope?: AccessScope[];
}

/** The client a `--human` token is recorded with when no --agent names another. */
const HUMAN_CLIENT = 'cli';

/** `rungate token create`: prints the token once, on stdout (the rest goes to stderr). */
export async function createToken(options: CreateTokenOptions): Promise<number> {
  // A human's own token names the client it is used from; the CLI unless told otherwise.
  const agent = options.agent ?? (options.human ? HUMAN_CLIENT : undefined);
  if (agent === undefined) throw new UsageError('name the agent the token is for (--agent NAME), or make a human\'s own token (--human)');
  const { token, record } = await withTokens(options, 'rungate token create', (tokens) =>
    tokens.create({
      user: options.user,
      agent,
      ...(options.human ? { human: true } : {}),
      ttlMs: options.ttl,
      ...(options.runbooks ? { runbooks: options.runbooks } : {}),
      ...(options.connections ? { connections: options.connections } : {}),
      ...(options.scope ? { scopes: options.scope } : {}),
    }),
  );
  const whose = record.human ? `${record.user}'s own (human, client ${record.agent}; it may approve held runs)` : `${record.user} (agent ${record.agent})`;
  process.stderr.write(`created ${record.id} for ${whose}, expires ${record.expiresAt}; it is shown only now\n`);
  process.stdout.write(`${token}\n`);
  return 0;
}

export async function listTokens(options: DatabaseOptions): Promise<number> {
  const tokens = await withTokens(options, 'rungate token list', (t) => t.list());
  for (const token of tokens) process.stdout.write(`${formatTokenLine(token)}\n`);
  return 0;
}

export async function revokeToken(id: string, options: DatabaseOptions): Promise<number> {
  const revoked = await withTokens(options, 'rungate token revoke', (t) => t.revoke(id));
  if (!revoked) {
    process.stderr.write(`rungate token revoke: no token ${id}\n`);
    return 1;
  }
  process.stdout.write(`revoked ${id}\n`);
  return 0;
}
