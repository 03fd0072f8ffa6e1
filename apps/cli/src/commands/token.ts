import { parseDuration } from '@rungate/config';
import { JetStreamAuditSink, connectNats, ensureAuditStream } from '@rungate/messaging';
import { TokenStore, openDatabase, type AgentTokenRecord } from '@rungate/persistence';
import { option } from './args';

const USAGE = `usage:
  rungate token create --user U --agent A [--ttl 8h] [--runbooks GLOB…] [--connections NAME…]
  rungate token list
  rungate token revoke ID
(DATABASE_URL: where tokens are stored; NATS_URL: where the change is audited)
`;

function values(args: readonly string[], name: string): string[] | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const out: string[] = [];
  for (let i = at + 1; i < args.length && !(args[i] as string).startsWith('--'); i++) out.push(args[i] as string);
  return out;
}

/** Every token change is an audit event; a change that cannot be audited is undone. */
async function audited(type: string, record: AgentTokenRecord, undo?: () => Promise<unknown>): Promise<void> {
  const nc = await connectNats({ name: 'rungate-cli' }).catch(() => undefined);
  try {
    if (!nc) throw new Error('NATS is unreachable');
    await ensureAuditStream(await nc.jetstreamManager());
    await new JetStreamAuditSink(nc.jetstream()).publish({
      type,
      source: 'cli',
      actor: { user: process.env['USER'] ? `operator:${process.env['USER']}` : 'operator', groups: [] },
      details: { tokenId: record.id, user: record.user, agent: record.agent, expiresAt: record.expiresAt, runbooks: record.runbooks, connections: record.connections },
    });
  } catch (error) {
    await undo?.();
    throw new Error(`the change could not be audited (${(error as Error).message})${undo ? '; it was undone' : ''}`);
  } finally {
    await nc?.close();
  }
}

export async function tokenCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const url = process.env['DATABASE_URL'];
  if (!verb || !['create', 'list', 'revoke'].includes(verb) || !url) {
    process.stderr.write(url ? USAGE : `DATABASE_URL is not set\n${USAGE}`);
    return 2;
  }
  const db = await openDatabase(url);
  const store = new TokenStore(db);
  try {
    if (verb === 'create') {
      const user = option(rest, '--user');
      const agent = option(rest, '--agent');
      if (!user || !agent) {
        process.stderr.write(USAGE);
        return 2;
      }
      const ttlMs = parseDuration(option(rest, '--ttl') ?? '8h');
      const { token, record } = await store.create({ user, agent, ttlMs, runbooks: values(rest, '--runbooks'), connections: values(rest, '--connections') });
      await audited('audit.admin.token.created', record, () => store.revoke(record.id));
      process.stderr.write(`created ${record.id} for ${user} (agent ${agent}), expires ${record.expiresAt}; it is shown only now\n`);
      process.stdout.write(`${token}\n`);
      return 0;
    }
    if (verb === 'list') {
      for (const t of await store.list()) {
        const state = t.revokedAt ? 'revoked' : new Date(t.expiresAt) <= new Date() ? 'expired' : 'active';
        const scope = [t.runbooks ? `runbooks=${t.runbooks.join(',')}` : '', t.connections ? `connections=${t.connections.join(',')}` : ''].filter(Boolean).join(' ');
        process.stdout.write(`${t.id}  ${state.padEnd(7)}  ${t.user}  ${t.agent}  expires ${t.expiresAt}${scope ? `  ${scope}` : ''}\n`);
      }
      return 0;
    }
    const id = rest[0];
    if (!id) {
      process.stderr.write(USAGE);
      return 2;
    }
    const revoked = await store.revoke(id);
    if (!revoked) {
      process.stderr.write(`no token ${id}\n`);
      return 1;
    }
    await audited('audit.admin.token.revoked', revoked);
    process.stdout.write(`revoked ${id}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`rungate token: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await db.destroy();
  }
}
