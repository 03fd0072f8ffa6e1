import { renameSync } from 'node:fs';
import { join } from 'node:path';
import type { RepositoryConfig } from '@rungate/config';
import { connect, type NatsConnection } from 'nats';
import { eventually } from '@rungate/test-util';
import { BROKEN, GET_USER, UPDATE_EMAIL } from '../testing/fixtures';
import { SourceRepository, temporaryDir } from '../testing/source-repository';
import { RepositorySyncer, type CatalogPublication } from './repository-syncer';
import { SyncCoordination } from './sync-coordination';

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
// Buckets of their own with a short lock TTL; keys carry this file's prefix (set per test file).
// Short, but not so short that a loaded machine (CI at load average 20) delays a renewal past
// it: the active replica then loses its lock while alive, and two replicas are active at once.
const PREFIX = process.env['RUNGATE_SUBJECT_PREFIX'] || `t${process.pid}`;
const LOCK_TTL_MS = 5000;

interface Harness {
  syncer: RepositorySyncer;
  publications: CatalogPublication[];
  logs: string[];
}

describe('RepositorySyncer on real git and NATS', () => {
  const connections: NatsConnection[] = [];
  const running: RepositorySyncer[] = [];
  const sources: SourceRepository[] = [];
  let coordination: SyncCoordination;
  let counter = 0;

  async function coordinationOn(nc: NatsConnection): Promise<SyncCoordination> {
    return SyncCoordination.open(nc.jetstream(), {
      // A bucket keeps the TTL it was made with: the name carries it, so a changed TTL gets a new bucket.
      lockBucket: `rungate_test_git_locks_${LOCK_TTL_MS}ms`,
      headBucket: 'rungate_test_git_heads',
      lockTtlMs: LOCK_TTL_MS,
      keyPrefix: PREFIX,
    });
  }

  async function newConnection(): Promise<NatsConnection> {
    const nc = await connect({ servers: NATS_URL, name: 'git-catalog-test' });
    connections.push(nc);
    return nc;
  }

  function source(files: Record<string, string> = {}): SourceRepository {
    const repository = new SourceRepository(files);
    sources.push(repository);
    return repository;
  }

  function repositoryName(): string {
    return `repo${++counter}`;
  }

  function syncer(
    repository: Pick<RepositoryConfig, 'name' | 'url'> & Partial<RepositoryConfig>,
    options: { coordination?: SyncCoordination | null; cacheDir?: string; owner?: string } = {},
  ): Harness {
    const publications: CatalogPublication[] = [];
    const logs: string[] = [];
    const cacheDir = options.cacheDir ?? temporaryDir();
    const instance = new RepositorySyncer({
      repository: { branch: 'main', pollInterval: 150, ...repository },
      cacheDir,
      secretsDir: join(cacheDir, '.secrets'),
      resolveSecret: () => '',
      coordination: options.coordination === null ? undefined : (options.coordination ?? coordination),
      owner: options.owner ?? `owner-${counter}-${Math.random()}`,
      log: { log: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), error: (m) => logs.push(`ERROR ${m}`) },
      onPublish: async (publication) => {
        publications.push(publication);
      },
    });
    running.push(instance);
    return { syncer: instance, publications, logs };
  }

  beforeAll(async () => {
    coordination = await coordinationOn(await newConnection());
  });

  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
    for (const s of sources) s.remove();
    for (const nc of connections) await nc.close();
  });

  it('publishes the first sync pinned to the commit, with one tool per runbook', async () => {
    const name = repositoryName();
    const repo = source({ 'runbooks/postgres/get_user.runbook.sql': GET_USER, 'runbooks/postgres/update_email.runbook.sql': UPDATE_EMAIL, 'README.md': 'x' });
    const { syncer: s, publications } = syncer({ name, url: repo.dir, path: 'runbooks/' });
    await s.start();
    expect(s.isActive).toBe(true);
    const served = await s.catalog();
    expect(served?.catalog).toMatchObject({ repository: name, commit: repo.head(), stale: false, rejected: [] });
    expect(served?.catalog.runbooks.map((r) => [r.tool, r.path])).toEqual([
      [`${name}.postgres.get_user`, 'postgres/get_user.runbook.sql'],
      [`${name}.postgres.update_email`, 'postgres/update_email.runbook.sql'],
    ]);
    expect(publications).toHaveLength(1);
    expect(publications[0]).toMatchObject({ catalog: { commit: repo.head() } });
    expect(publications[0]?.previousCommit).toBeUndefined();
    expect(await coordination.publishedHead(name)).toMatchObject({ commit: repo.head(), stale: false });
  });

  it('picks up a new commit by polling and announces it once, naming the previous commit', async () => {
    const name = repositoryName();
    const repo = source({ 'a.runbook.sql': GET_USER });
    const { syncer: s, publications } = syncer({ name, url: repo.dir });
    await s.start();
    const first = repo.head();
    const second = repo.commit({ 'b.runbook.sql': UPDATE_EMAIL });
    await eventually(async () => expect((await s.catalog())?.catalog.commit).toBe(second));
    expect((await s.catalog())?.catalog.runbooks.map((r) => r.tool)).toEqual([`${name}.a`, `${name}.b`]);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(publications.map((p) => [p.previousCommit, p.catalog.commit])).toEqual([
      [undefined, first],
      [first, second],
    ]);
  });

  it('serves content at the commit it was asked for, after the file changed', async () => {
    const name = repositoryName();
    const repo = source({ 'runbooks/get_user.runbook.sql': GET_USER, 'runbooks/notes.md': 'secret notes' });
    const { syncer: s } = syncer({ name, url: repo.dir, path: 'runbooks' });
    await s.start();
    const old = repo.head();
    const changed = repo.commit({ 'runbooks/get_user.runbook.sql': `${GET_USER}-- changed\n` });
    await eventually(async () => expect((await s.catalog())?.catalog.commit).toBe(changed));
    const before = await s.content(old, 'get_user.runbook.sql');
    const after = await s.content(changed, 'get_user.runbook.sql');
    expect(before.content).toBe(GET_USER);
    expect(after.content).toBe(`${GET_USER}-- changed\n`);
    const entry = (await s.catalog())?.catalog.runbooks[0];
    expect(after.sha256).toBe(entry?.sha256);
    await expect(s.content(old, 'notes.md')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(s.content(old, '../runbooks/get_user.runbook.sql')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(s.content(old, 'missing.runbook.sql')).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
    await expect(s.content('f'.repeat(40), 'get_user.runbook.sql')).rejects.toMatchObject({ code: 'CATALOG_UNAVAILABLE' });
    await expect(s.content('HEAD', 'get_user.runbook.sql')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('withholds a broken runbook and reports it while the good ones publish', async () => {
    const name = repositoryName();
    const repo = source({ 'get_user.runbook.sql': GET_USER, 'find_by_email.runbook.sql': BROKEN });
    const { syncer: s, publications, logs } = syncer({ name, url: repo.dir });
    await s.start();
    const catalog = (await s.catalog())?.catalog;
    expect(catalog?.runbooks.map((r) => r.tool)).toEqual([`${name}.get_user`]);
    expect(catalog?.rejected).toEqual([{ path: 'find_by_email.runbook.sql', line: 2, column: 35, message: expect.any(String) }]);
    expect(publications[0]?.rejected).toEqual([expect.objectContaining({ path: 'find_by_email.runbook.sql', findings: catalog?.rejected })]);
    expect(logs).toContainEqual(expect.stringMatching(/^WARN .*withheld find_by_email\.runbook\.sql:2:35: /));
  });

  it('keeps serving the last good commit, marked stale, while the remote is unreachable', async () => {
    const name = repositoryName();
    const repo = source({ 'get_user.runbook.sql': GET_USER });
    const cacheDir = temporaryDir();
    const { syncer: s, logs } = syncer({ name, url: repo.dir }, { cacheDir });
    await s.start();
    const good = repo.head();
    renameSync(repo.dir, `${repo.dir}-away`);
    await eventually(async () => expect((await s.catalog())?.catalog).toMatchObject({ commit: good, stale: true }));
    expect(s.status()).toMatchObject({ stale: true, commit: good, lastError: expect.stringContaining('git ls-remote failed') });
    expect(logs).toContainEqual(expect.stringMatching(/WARN .*cannot read the remote .* serving the last good commit/));
    // The stale head is recorded in the KV bucket after the catalog turns stale, not with it.
    await eventually(async () => expect(await coordination.publishedHead(name)).toMatchObject({ commit: good, stale: true }));
    expect((await s.content(good, 'get_user.runbook.sql')).content).toBe(GET_USER);

    // A restart while the remote is away serves what was fetched before, marked stale.
    await s.stop();
    const { syncer: restarted } = syncer({ name, url: repo.dir }, { cacheDir, coordination: null });
    await restarted.start();
    expect((await restarted.catalog())?.catalog).toMatchObject({ commit: good, stale: true });

    renameSync(`${repo.dir}-away`, repo.dir);
    await eventually(async () => expect((await restarted.catalog())?.catalog).toMatchObject({ commit: good, stale: false }));
  });

  it('runs one active syncer per repository; the standby follows and takes over when the active one stops', async () => {
    const name = repositoryName();
    const repo = source({ 'a.runbook.sql': GET_USER });
    const a = syncer({ name, url: repo.dir }, { owner: 'replica-a' });
    await a.syncer.start();
    const b = syncer({ name, url: repo.dir }, { owner: 'replica-b' });
    await b.syncer.start();
    expect([a.syncer.isActive, b.syncer.isActive]).toEqual([true, false]);
    expect((await b.syncer.catalog())?.catalog.commit).toBe(repo.head());

    const second = repo.commit({ 'b.runbook.sql': UPDATE_EMAIL });
    await eventually(() => expect(a.publications.map((p) => p.catalog.commit)).toContain(second));
    // The standby answers with the published commit at once, fetching it itself.
    expect((await b.syncer.catalog())?.catalog).toMatchObject({ commit: second, stale: false });
    expect((await b.syncer.content(second, 'b.runbook.sql')).content).toBe(UPDATE_EMAIL);

    await a.syncer.stop();
    await eventually(() => expect(b.syncer.isActive).toBe(true), 5000);
    const third = repo.commit({ 'c.runbook.sql': GET_USER });
    await eventually(() => expect(b.publications.map((p) => [p.previousCommit, p.catalog.commit])).toEqual([[second, third]]));
    expect(a.publications.map((p) => p.catalog.commit)).toEqual([expect.any(String), second]);
  });

  it('shows the active syncer’s staleness on standbys, which keep serving the same commit', async () => {
    const name = repositoryName();
    const repo = source({ 'a.runbook.sql': GET_USER });
    const a = syncer({ name, url: repo.dir }, { owner: 'replica-a' });
    await a.syncer.start();
    const b = syncer({ name, url: repo.dir }, { owner: 'replica-b' });
    await b.syncer.start();
    const good = repo.head();
    renameSync(repo.dir, `${repo.dir}-away`);
    try {
      await eventually(async () => expect((await a.syncer.catalog())?.catalog).toMatchObject({ commit: good, stale: true }));
      expect((await b.syncer.catalog())?.catalog).toMatchObject({ commit: good, stale: true });
    } finally {
      renameSync(`${repo.dir}-away`, repo.dir);
    }
    await eventually(async () => expect((await b.syncer.catalog())?.catalog).toMatchObject({ commit: good, stale: false }));
  });

  it('takes over after the lock expires when the active replica dies without letting go', async () => {
    const name = repositoryName();
    const repo = source({ 'a.runbook.sql': GET_USER });
    const doomedConnection = await newConnection();
    const a = syncer({ name, url: repo.dir }, { owner: 'replica-a', coordination: await coordinationOn(doomedConnection) });
    await a.syncer.start();
    const b = syncer({ name, url: repo.dir }, { owner: 'replica-b' });
    await b.syncer.start();
    expect(b.syncer.isActive).toBe(false);
    const died = Date.now();
    await doomedConnection.close();
    await eventually(() => expect(b.syncer.isActive).toBe(true), 3 * LOCK_TTL_MS, 20);
    expect(Date.now() - died).toBeGreaterThanOrEqual(LOCK_TTL_MS / 2);
    const next = repo.commit({ 'b.runbook.sql': UPDATE_EMAIL });
    await eventually(() => expect(b.publications.map((p) => p.catalog.commit)).toEqual([next]));
    // The cut-off replica notices it can no longer renew and stands by.
    await eventually(() => expect(a.syncer.isActive).toBe(false), 3 * LOCK_TTL_MS);
  });
});
