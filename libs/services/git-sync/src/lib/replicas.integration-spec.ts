import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogContentReply, CatalogGetReply, Subjects, type CatalogUpdatedEvent } from '@rungate/contracts';
import { signWebhookBody, type RepositoryStatus } from '@rungate/git-catalog';
import { NatsBus, connectNats, decodeJson, scopedSubject, subjectPrefix } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { createRunbookRepository, eventually, type RunbookRepository } from '@rungate/testing';
import type { NatsConnection, Subscription } from 'nats';
import { gitSyncService } from './definition';

const SECRET = `whsec-${randomBytes(8).toString('hex')}`;
const SECRET_ENV = `RG_GIT_SYNC_REPLICA_SECRET_${randomBytes(4).toString('hex').toUpperCase()}`;
const NAME = `shared-${randomBytes(3).toString('hex')}`;

describe('two git-sync replicas', () => {
  let source: RunbookRepository;
  let first: RunningService;
  let second: RunningService;
  let nc: NatsConnection;
  let bus: NatsBus;
  let subscription: Subscription;
  const updates: CatalogUpdatedEvent[] = [];

  async function replica(): Promise<RunningService> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-git-sync-replica-'));
    const configFile = join(dir, 'rungate.yaml');
    writeFileSync(
      configFile,
      `repositories:
  - name: ${NAME}
    url: ${source.dir}
    pollInterval: 1h
    webhookSecret: env:${SECRET_ENV}
gateway: { host: 127.0.0.1 }
gitSync: { cacheDir: ${join(dir, 'cache')}, port: 0 }
`,
    );
    return startService(gitSyncService, await createServiceContext('git-sync', configFile));
  }

  async function role(service: RunningService): Promise<string | undefined> {
    const status = (await (await fetch(`${service.url}/status`)).json()) as { repositories: RepositoryStatus[] };
    return status.repositories.find((r) => r.repository === NAME)?.role;
  }

  const commitsServed = async (requests: number) => {
    const replies = await Promise.all(
      Array.from({ length: requests }, () => bus.request(Subjects.catalogGet, { repository: NAME }, CatalogGetReply, { timeoutMs: 10_000 })),
    );
    return new Set(replies.map((r) => r.catalogs[0]?.commit));
  };

  async function signedPush(service: RunningService, body: string): Promise<number> {
    const res = await fetch(`${service.url}/hooks/git/${NAME}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWebhookBody(body, SECRET) },
      body,
    });
    return res.status;
  }

  beforeAll(async () => {
    process.env[SECRET_ENV] = SECRET;
    source = createRunbookRepository({ 'hello.runbook.sh': 'echo hello\n' });
    nc = await connectNats({ name: 'git-sync-replicas-test' });
    bus = new NatsBus(nc);
    subscription = nc.subscribe(scopedSubject(Subjects.catalogUpdated, subjectPrefix()), {
      callback: (_error, msg) => updates.push(decodeJson(msg.data) as CatalogUpdatedEvent),
    });
    first = await replica();
    await eventually(async () => expect(await role(first)).toBe('active'));
    second = await replica();
    await eventually(async () => expect((await commitsServed(1)).size).toBe(1));
  });

  afterAll(async () => {
    subscription?.unsubscribe();
    await first?.close();
    await second?.close();
    await nc?.close();
  });

  it('has one active syncer; a webhook on the standby syncs through it, and every replica answers with the new commit', async () => {
    expect(await role(second)).toBe('standby');
    const next = source.commit({ 'uptime.runbook.sh': 'uptime\n' });
    expect(await signedPush(second, '{"ref":"refs/heads/main"}')).toBe(202);
    await eventually(async () => expect(updates.map((u) => u.commit)).toContain(next));
    // Right after the event, whichever replica the queue group picks answers with that commit.
    expect(await commitsServed(20)).toEqual(new Set([next]));
    const content = await bus.request(Subjects.catalogContent, { repository: NAME, commit: next, path: 'uptime.runbook.sh' }, CatalogContentReply, {
      timeoutMs: 10_000,
    });
    expect(content.content).toBe('uptime\n');
    expect(updates.filter((u) => u.commit === next)).toHaveLength(1);
  });

  it('lets the standby take over when the active replica stops', async () => {
    await first.close();
    await eventually(async () => expect(await role(second)).toBe('active'), 20_000);
    const next = source.commit({ 'date.runbook.sh': 'date\n' });
    expect(await signedPush(second, '{}')).toBe(202);
    await eventually(async () => expect(updates.map((u) => u.commit)).toContain(next));
    expect(await commitsServed(5)).toEqual(new Set([next]));
  });
});
