import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { READ_ONE_RUNBOOK, TRANSPORTS, newToken, startStack, type Stack } from './support/stack';

interface AdminRow {
  type: string;
  source: string;
  actor_user: string;
  event: { id: string; details: Record<string, unknown> & { changed?: { name: string; keys: { key: string; before?: unknown; after?: unknown }[] }[]; added?: string[]; removed?: string[] } };
}

/**
 * Issue 15: a change to rungate.yaml is audited once, section by section, with what can be
 * known of who made it — the commit and its author when the file is committed, else the file
 * and its digest — and a diff of keys and values; rules, users, tokens (by hash prefix),
 * connections (by secret reference), repositories and guardrails included. Real file edits in
 * a git work tree, both ways of running.
 */
describe.each(TRANSPORTS)('rungate.yaml changes on the audit trail over %s', (transport) => {
  const TAG = randomBytes(3).toString('hex');
  const ALICE = `alice-${TAG}@example.com`;
  const BOB = `bob-${TAG}@example.com`;
  const alice = newToken();
  const robot = newToken();
  let auditDb: TestDatabase;
  let stack: Stack;
  let audit: PgClient;
  let dir: string;

  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_NAME: 'Olga Ops', GIT_AUTHOR_EMAIL: `olga-${TAG}@example.com`, GIT_COMMITTER_NAME: 'CI', GIT_COMMITTER_EMAIL: 'ci@example.com' },
    }).trim();

  /**
   * Commits `content` as rungate.yaml without touching the file, then writes the file: the
   * reload then reads bytes that are already the commit's (no race with the watcher).
   */
  function commitThenWrite(content: string, message: string): string {
    const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: dir, input: content, encoding: 'utf8' }).trim();
    git('update-index', '--add', '--cacheinfo', `100644,${blob},rungate.yaml`);
    git('commit', '-q', '-m', message);
    writeFileSync(stack.configFile, content);
    return git('rev-parse', 'HEAD');
  }

  async function adminEvents(where: string, params: unknown[], count: number): Promise<AdminRow[]> {
    return eventually(async () => {
      const { rows } = await audit.query(`SELECT type, source, actor_user, event FROM audit_events WHERE type LIKE 'audit.admin.%' AND ${where} ORDER BY seq`, params);
      if (rows.length < count) throw new Error(`${rows.length} of ${count} admin events stored: ${JSON.stringify(rows.map((r) => r.type))}`);
      return rows as AdminRow[];
    }, 30_000);
  }

  beforeAll(async () => {
    auditDb = await createTestDatabase('rge2e_config_audit');
    const repo = createRunbookRepository({ 'postgres/get.runbook.sql': READ_ONE_RUNBOOK });
    stack = await startStack({
      transport,
      env: { DATABASE_URL: auditDb.url, APP_DB_URL: auditDb.url, APP_DB_REPLICA_URL: auditDb.url },
      config: () => `
repositories:
  - name: cfg
    url: ${repo.dir}
    pollInterval: 10s
connections:
  - { name: app-db, type: postgres, url: env:APP_DB_URL }
users:
  - { name: ${ALICE}, groups: [engineering] }
  - { name: ${BOB}, groups: [ops] }
tokens:
  - { sha256: "${alice.sha256}", user: ${ALICE}, agent: claude-code }
rules:
  - { name: engineering-${TAG}, groups: [engineering], connections: [app-db], runbooks: ["cfg/**"] }
`,
    });
    dir = realpathSync(dirname(stack.configFile));
    git('init', '-q', '-b', 'main');
    git('add', 'rungate.yaml');
    git('commit', '-q', '-m', 'rungate.yaml as deployed');
    audit = new PgClient({ connectionString: auditDb.url });
    await audit.connect();
  });

  afterAll(async () => {
    await stack?.stop();
    await audit?.end();
    await auditDb?.drop();
  });

  it('records a committed change once per section, naming the commit and its author, with a diff of keys and values', async () => {
    const before = readFileSync(stack.configFile, 'utf8');
    const after = before
      .replace(`  - { name: ${BOB}, groups: [ops] }`, `  - { name: ${BOB}, groups: [ops, engineering] }`)
      .replace(`  - { sha256: "${alice.sha256}", user: ${ALICE}, agent: claude-code }`, `  - { sha256: "${alice.sha256}", user: ${ALICE}, agent: claude-code }\n  - { sha256: "${robot.sha256}", user: ${BOB}, agent: robot, scopes: [audit:read] }`)
      .replace('url: env:APP_DB_URL }', 'url: env:APP_DB_REPLICA_URL }')
      .replace('pollInterval: 10s', 'pollInterval: 20s')
      .replace(
        `rules:\n`,
        `guardrails:\n  - { name: no-ddl-${TAG}, on: input, connections: [app-db], match: { sql: { forbid: [ddl] } } }\nrules:\n  - { name: ops-${TAG}, groups: [ops], connections: [app-db], runbooks: ["cfg/postgres/*"] }\n`,
      );
    const commit = commitThenWrite(after, 'let ops read, a replica, a guardrail');
    const sha256 = createHash('sha256').update(after).digest('hex');

    const rows = await adminEvents(`event->'details'->>'fileSha256' = $1`, [sha256], 6);
    expect(rows.map((r) => r.type).sort()).toEqual(
      ['audit.admin.connections.changed', 'audit.admin.guardrails.changed', 'audit.admin.repositories.changed', 'audit.admin.rules.changed', 'audit.admin.tokens.changed', 'audit.admin.users.changed'].sort(),
    );
    for (const row of rows) {
      expect(row).toMatchObject({ source: 'policy', actor_user: `git:olga-${TAG}@example.com` });
      expect(row.event.details).toMatchObject({
        file: realpathSync(stack.configFile),
        fileSha256: sha256,
        git: { commit, author: 'Olga Ops', authorEmail: `olga-${TAG}@example.com`, path: 'rungate.yaml', matchesCommit: true },
        reloadedBy: expect.objectContaining({ uid: expect.any(Number) }),
        configSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        previousConfigSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
    const section = (type: string) => rows.find((r) => r.type === `audit.admin.${type}.changed`)?.event.details;
    expect(section('rules')).toMatchObject({ added: [`ops-${TAG}`], removed: [], changed: [] });
    expect(section('users')?.changed).toEqual([{ name: BOB, keys: [{ key: 'groups', before: ['ops'], after: ['ops', 'engineering'] }] }]);
    expect(section('tokens')?.added).toEqual([`${robot.sha256.slice(0, 12)} (${BOB}/robot)`]);
    expect(section('connections')?.changed).toEqual([{ name: 'app-db', keys: [{ key: 'url', before: 'env:APP_DB_URL', after: 'env:APP_DB_REPLICA_URL' }] }]);
    expect(section('repositories')?.changed).toEqual([{ name: 'cfg', keys: [{ key: 'pollInterval', before: 10_000, after: 20_000 }] }]);
    expect(section('guardrails')?.added).toEqual([`no-ddl-${TAG}`]);
    // Never a secret: no resolved connection URL, no whole token hash.
    const text = JSON.stringify(rows);
    expect(text).not.toContain(auditDb.url);
    expect(text).not.toContain(robot.sha256);
  });

  it('records an edit no commit has under the file, saying what the last commit was and that the bytes are not its', async () => {
    const edited = readFileSync(stack.configFile, 'utf8').replace(`runbooks: ["cfg/postgres/*"]`, `runbooks: ["cfg/**"]`);
    writeFileSync(stack.configFile, edited);
    const sha256 = createHash('sha256').update(edited).digest('hex');
    const [row, ...more] = await adminEvents(`event->'details'->>'fileSha256' = $1`, [sha256], 1);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ type: 'audit.admin.rules.changed', actor_user: expect.stringMatching(/^config-file:\/.*rungate\.yaml$/) });
    expect(row?.event.details).toMatchObject({
      git: { matchesCommit: false, authorEmail: `olga-${TAG}@example.com` },
      changed: [{ name: `ops-${TAG}`, keys: [{ key: 'runbooks', before: ['cfg/postgres/*'], after: ['cfg/**'] }] }],
    });
  });

  it('stored each change once, though every service reloaded it', async () => {
    const { rows } = await audit.query(
      `SELECT type, event->'details'->>'configSha256' AS config, count(*)::int AS n FROM audit_events
        WHERE type LIKE 'audit.admin.%' AND actor_user LIKE ANY($1) GROUP BY 1, 2`,
      [[`git:olga-${TAG}@example.com`, `config-file:${dir}%`]],
    );
    expect(rows.length).toBe(7);
    expect(rows.every((r: { n: number }) => r.n === 1)).toBe(true);
  });
});
