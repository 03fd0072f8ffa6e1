import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_STREAM,
  CatalogContentReply,
  CatalogGetReply,
  Subjects,
  type AuditEvent,
  type CatalogUpdatedEvent,
  type RungateError,
} from '@rungate/contracts';
import { signWebhookBody } from '@rungate/git-catalog';
import { NatsBus, connectNats, decodeJson, ensureAuditStream, scopedSubject, subjectPrefix } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { createRunbookRepository, eventually, type RunbookRepository } from '@rungate/testing';
import type { NatsConnection, Subscription } from 'nats';
import { gitSyncService } from './definition';

const GET_USER = `-- @description Look up a user by id
-- @readonly
SELECT user_id, email FROM users WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }};
`;
const BROKEN = `-- @description Finds users by e-mail, unsafely
SELECT * FROM users WHERE email = {{ .email }};
`;
const SECRET = `whsec-${randomBytes(8).toString('hex')}`;
const SECRET_ENV = `RG_GIT_SYNC_TEST_WEBHOOK_${randomBytes(4).toString('hex').toUpperCase()}`;

/** Repository names unique to this run: lock and head keys in NATS KV are per repository. */
const id = randomBytes(3).toString('hex');
const POLLED = `polled-${id}`;
const HOOKED = `hooked-${id}`;
const PLAIN = `plain-${id}`;
const ADDED = `added-${id}`;

type Readyz = { status: string; checks: Record<string, boolean> };

function head(repository: RunbookRepository): string {
  return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repository.dir, encoding: 'utf8' }).trim();
}

describe('git-sync service over NATS and HTTP', () => {
  let dir: string;
  let configFile: string;
  let polled: RunbookRepository;
  let hooked: RunbookRepository;
  let plain: RunbookRepository;
  let service: RunningService;
  let nc: NatsConnection;
  let bus: NatsBus;
  let updates: CatalogUpdatedEvent[];
  let subscription: Subscription;

  function config(extra = ''): string {
    return `
repositories:
  - name: ${POLLED}
    url: ${polled.dir}
    pollInterval: 200ms
  - name: ${HOOKED}
    url: ${hooked.dir}
    path: runbooks/
    pollInterval: 1h
    webhookSecret: env:${SECRET_ENV}
  - name: ${PLAIN}
    url: ${plain.dir}
    pollInterval: 1h
${extra}
gateway: { host: 127.0.0.1 }
gitSync: { cacheDir: ${join(dir, 'cache')}, port: 0 }
`;
  }

  const getCatalogs = (repository?: string) =>
    bus.request(Subjects.catalogGet, repository ? { repository } : {}, CatalogGetReply, { timeoutMs: 10_000 }).then((r) => r.catalogs);
  const getContent = (repository: string, commit: string, path: string) =>
    bus.request(Subjects.catalogContent, { repository, commit, path }, CatalogContentReply, { timeoutMs: 10_000 });
  const webhook = (repository: string, body: string, headers: Record<string, string>) =>
    fetch(`${service.url}/hooks/git/${repository}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  /** Audit events of one type stored after `afterSeq`. */
  async function auditEvents(type: string, afterSeq: number): Promise<AuditEvent[]> {
    const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { filterSubjects: type, opt_start_seq: afterSeq + 1 });
    const events: AuditEvent[] = [];
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
    for await (const msg of batch) events.push(decodeJson(msg.data) as AuditEvent);
    return events;
  }

  async function auditEnd(): Promise<number> {
    return (await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM)).state.last_seq;
  }

  beforeAll(async () => {
    process.env[SECRET_ENV] = SECRET;
    dir = mkdtempSync(join(tmpdir(), 'rg-git-sync-'));
    polled = createRunbookRepository({ 'postgres/get_user.runbook.sql': GET_USER });
    hooked = createRunbookRepository({ 'runbooks/get_user.runbook.sql': GET_USER, 'runbooks/find.runbook.sql': BROKEN, 'README.md': 'docs\n' });
    plain = createRunbookRepository({ 'get_user.runbook.sql': GET_USER });
    configFile = join(dir, 'rungate.yaml');
    writeFileSync(configFile, config());
    nc = await connectNats({ name: 'git-sync-test' });
    await ensureAuditStream(await nc.jetstreamManager()); // on a fresh NATS no service has made it yet
    bus = new NatsBus(nc);
    updates = [];
    subscription = nc.subscribe(scopedSubject(Subjects.catalogUpdated, subjectPrefix()), {
      callback: (_error, msg) => updates.push(decodeJson(msg.data) as CatalogUpdatedEvent),
    });
    service = await startService(gitSyncService, await createServiceContext('git-sync', configFile));
  });

  afterAll(async () => {
    subscription?.unsubscribe();
    await service?.close();
    await nc?.close();
  });

  it('answers catalog.get with every repository pinned to its commit, or one by name', async () => {
    const catalogs = await getCatalogs();
    const byName = Object.fromEntries(catalogs.map((c) => [c.repository, c]));
    expect(Object.keys(byName).sort()).toEqual([HOOKED, PLAIN, POLLED].sort());
    expect(byName[POLLED]).toMatchObject({ commit: head(polled), stale: false });
    expect(byName[HOOKED]).toMatchObject({ commit: head(hooked), stale: false });
    expect(byName[PLAIN]?.runbooks.map((r) => r.tool)).toEqual([`${PLAIN}.get_user`]);
    expect(byName[HOOKED]?.runbooks.map((r) => [r.tool, r.path])).toEqual([[`${HOOKED}.get_user`, 'get_user.runbook.sql']]);
    expect(byName[HOOKED]?.rejected).toEqual([{ path: 'find.runbook.sql', line: 2, column: 35, message: expect.stringContaining('bare in SQL') }]);
    const [one] = await getCatalogs(PLAIN);
    expect(one).toEqual(byName[PLAIN]);
    await expect(getCatalogs('nope')).rejects.toMatchObject({ code: 'CATALOG_UNAVAILABLE' } satisfies Partial<RungateError>);
  });

  it('picks up a new commit by polling, announces catalog.updated and audits it', async () => {
    const [before] = await getCatalogs(POLLED);
    const since = await auditEnd();
    const next = polled.commit({ 'postgres/count_users.runbook.sql': '-- @readonly\nSELECT count(*) FROM users;\n' });
    await eventually(async () => expect(updates).toContainEqual({ repository: POLLED, commit: next, previousCommit: before?.commit }));
    const [after] = await getCatalogs(POLLED);
    expect(after?.commit).toBe(next);
    expect(after?.runbooks.map((r) => r.tool)).toEqual([`${POLLED}.postgres.count_users`, `${POLLED}.postgres.get_user`]);
    const audited = await eventually(async () => {
      const events = (await auditEvents('audit.catalog.updated', since)).filter((e) => e.details?.['repository'] === POLLED);
      expect(events).toHaveLength(1);
      return events;
    });
    expect(audited[0]).toMatchObject({
      source: 'git-sync',
      details: { repository: POLLED, commit: next, previousCommit: before?.commit, runbooks: 2, rejected: 0 },
    });
  });

  it('serves content at the commit it was authorized at, not the newest', async () => {
    const [before] = await getCatalogs(POLLED);
    const old = before?.commit as string;
    const next = polled.commit({ 'postgres/get_user.runbook.sql': `${GET_USER}-- v2\n` });
    await eventually(async () => expect((await getCatalogs(POLLED))[0]?.commit).toBe(next));
    expect((await getContent(POLLED, old, 'postgres/get_user.runbook.sql')).content).toBe(GET_USER);
    const current = await getContent(POLLED, next, 'postgres/get_user.runbook.sql');
    expect(current.content).toBe(`${GET_USER}-- v2\n`);
    expect(current.sha256).toBe((await getCatalogs(POLLED))[0]?.runbooks.find((r) => r.path === 'postgres/get_user.runbook.sql')?.sha256);
    await expect(getContent(POLLED, next, '.git/config')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(getContent(POLLED, 'a'.repeat(40), 'postgres/get_user.runbook.sql')).rejects.toMatchObject({ code: 'CATALOG_UNAVAILABLE' });
    await expect(getContent(POLLED, next, 'postgres/gone.runbook.sql')).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
  });

  it('syncs at once on a correctly signed webhook and ignores a badly signed one', async () => {
    const [before] = await getCatalogs(HOOKED);
    const next = hooked.commit({ 'runbooks/uptime.runbook.sh': '# @readonly\nuptime\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: next });

    const forged = await webhook(HOOKED, body, { 'x-hub-signature-256': signWebhookBody(body, 'not-the-secret') });
    expect(forged.status).toBe(401);
    const unsigned = await webhook(HOOKED, body, {});
    expect(unsigned.status).toBe(401);
    // Nothing happens: the poll interval is an hour, so only a valid webhook can sync it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await getCatalogs(HOOKED))[0]?.commit).toBe(before?.commit);
    expect(updates.filter((u) => u.commit === next)).toEqual([]);

    const accepted = await webhook(HOOKED, body, { 'x-hub-signature-256': signWebhookBody(body, SECRET), 'x-github-event': 'push' });
    expect(accepted.status).toBe(202);
    await eventually(async () => expect(updates).toContainEqual({ repository: HOOKED, commit: next, previousCommit: before?.commit }));
    expect((await getCatalogs(HOOKED))[0]?.runbooks.map((r) => r.tool)).toEqual([`${HOOKED}.get_user`, `${HOOKED}.uptime`]);

    expect((await webhook(PLAIN, body, { 'x-hub-signature-256': signWebhookBody(body, SECRET) })).status).toBe(403);
    expect((await webhook('nope', body, { 'x-hub-signature-256': signWebhookBody(body, SECRET) })).status).toBe(404);
  });

  it('audits each withheld runbook with its file:line:col', async () => {
    const since = await auditEnd();
    const next = hooked.commit({ 'runbooks/also_broken.runbook.sql': BROKEN });
    const body = '{}';
    expect((await webhook(HOOKED, body, { 'x-gitea-signature': signWebhookBody(body, SECRET).slice('sha256='.length) })).status).toBe(202);
    const events = await eventually(async () => {
      const found = (await auditEvents('audit.catalog.rejected', since)).filter((e) => e.details?.['commit'] === next);
      expect(found).toHaveLength(2);
      return found;
    });
    expect(events.map((e) => e.details?.['findings'])).toEqual([
      [{ location: 'also_broken.runbook.sql:2:35', message: expect.stringContaining('bare in SQL') }],
      [{ location: 'find.runbook.sql:2:35', message: expect.stringContaining('bare in SQL') }],
    ]);
    expect(events[0]?.runbook).toMatchObject({ repository: HOOKED, path: 'also_broken.runbook.sql', commit: next });
  });

  it('keeps serving the last good commit, stale, when the remote disappears, and says so in /readyz', async () => {
    const ready = (await (await fetch(`${service.url}/readyz`)).json()) as Readyz;
    expect(ready.checks).toMatchObject({ [`catalog:${PLAIN}`]: true, [`remote:${PLAIN}`]: true });
    const [before] = await getCatalogs(POLLED);
    renameSync(polled.dir, `${polled.dir}-away`);
    try {
      await eventually(async () => expect((await getCatalogs(POLLED))[0]).toMatchObject({ commit: before?.commit, stale: true }));
      const readyz = await fetch(`${service.url}/readyz`);
      expect(readyz.status).toBe(503);
      expect(((await readyz.json()) as Readyz).checks).toMatchObject({ [`catalog:${POLLED}`]: true, [`remote:${POLLED}`]: false });
      const status = (await (await fetch(`${service.url}/status`)).json()) as { repositories: unknown[] };
      expect(status.repositories).toContainEqual(expect.objectContaining({ repository: POLLED, stale: true, lastError: expect.stringContaining('ls-remote') }));
      expect((await getContent(POLLED, before?.commit as string, 'postgres/get_user.runbook.sql')).content).toContain('-- v2');
    } finally {
      renameSync(`${polled.dir}-away`, polled.dir);
    }
    await eventually(async () => expect((await getCatalogs(POLLED))[0]).toMatchObject({ commit: before?.commit, stale: false }));
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  });

  it('follows rungate.yaml: a repository added while running is synced, a removed one is dropped', async () => {
    const added = createRunbookRepository({ 'hello.runbook.sh': 'echo hello\n' });
    writeFileSync(configFile, config(`  - name: ${ADDED}\n    url: ${added.dir}\n`));
    await eventually(async () => expect((await getCatalogs(ADDED))[0]?.runbooks.map((r) => r.tool)).toEqual([`${ADDED}.hello`]));
    writeFileSync(configFile, config());
    await eventually(async () => expect((await getCatalogs()).map((c) => c.repository)).not.toContain(ADDED));
  });
});
