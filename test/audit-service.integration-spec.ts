import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyWebhookSignature } from '@rungate/audit-sinks';
import { AUDIT_STREAM, type AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { JetStreamAuditSink, connectNats, ensureAuditStream, subjectPrefix } from '@rungate/messaging';
import { chainHash } from '@rungate/audit-chain';
import { openDatabase, verifyStoredChain, type StoredAuditEvent } from '@rungate/persistence';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { auditService } from '@rungate/service-audit';
import { policyService } from '@rungate/service-policy';
import { createTestDatabase, eventually, freePort, RUNGATE_BIN, type TestDatabase } from '@rungate/testing';
import { tokenSha256 } from '@rungate/policy';
import { generateTicketKeyPair } from '@rungate/tickets';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { parseSyslogMessage } from '../libs/audit-sinks/src/testing/syslog-frames';
import { SyslogReceiver, WebhookReceiver } from '../libs/audit-sinks/src/testing/receivers';

const CLI = RUNGATE_BIN;
const HOOK_SECRET = `whsec-${randomBytes(8).toString('hex')}`;
// The AUDIT stream is shared with every test on the machine: names of this file's own.
const TAG = randomBytes(3).toString('hex');
const ALICE = `alice-${TAG}@example.com`;
const BOB = `bob-${TAG}@example.com`;
const CAROL = `carol-${TAG}@example.com`;
const REPOSITORY = `demo-${TAG}`;
const RESTART = `${REPOSITORY}.k8s.restart`;

function token(): { token: string; sha256: string } {
  const value = `rg_${randomBytes(24).toString('base64url')}`;
  return { token: value, sha256: tokenSha256(value) };
}

type Page = { events: StoredAuditEvent[]; nextCursor?: string };

/**
 * The audit service as operators run it (in this process, over the real NATS and
 * PostgreSQL): chain writer, SIEM sinks from `audit.sinks` with hot reload, metrics and
 * readiness, and the query API behind policy's authentication for the auditor group — with
 * real webhook and syslog receivers, and the built CLI for `search` and `tail`.
 */
describe('the audit service', () => {
  let dir: string;
  let configFile: string;
  let database: TestDatabase;
  let db: DataSource;
  let policy: RunningService;
  let audit: RunningService;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: JetStreamAuditSink;
  let webhook: WebhookReceiver;
  let secondHook: WebhookReceiver;
  let syslog: SyslogReceiver;
  const auditor = token();
  const engineer = token();
  /** Ines's own agent token, made without the audit:read scope. */
  const inesAgent = token();
  /** Ines's tokens with audit:read, narrowed to the k8s runbooks, or to the app-db connection. */
  const k8sAuditor = token();
  const appDbAuditor = token();
  const sinkNames = { hook: `t-hook-${randomBytes(3).toString('hex')}`, log: `t-log-${randomBytes(3).toString('hex')}`, second: `t-hook2-${randomBytes(3).toString('hex')}` };
  let envName: string;

  function writeConfig(auditPort: number, sinks: string): void {
    writeFileSync(
      configFile,
      `repositories: [{ name: demo, url: ${dir} }]
users:
  - { name: ines@example.com, groups: [auditors] }
  - { name: alice@example.com, groups: [engineering] }
tokens:
  - { sha256: "${auditor.sha256}", user: ines@example.com, agent: rungate-cli, scopes: [audit:read] }
  - { sha256: "${engineer.sha256}", user: alice@example.com, agent: claude-code }
  - { sha256: "${inesAgent.sha256}", user: ines@example.com, agent: claude-code }
  - { sha256: "${k8sAuditor.sha256}", user: ines@example.com, agent: k8s-review, scopes: [audit:read], runbooks: ["${REPOSITORY}/k8s/**"] }
  - { sha256: "${appDbAuditor.sha256}", user: ines@example.com, agent: db-review, scopes: [audit:read], connections: [app-db] }
tickets: { signingKey: file:${join(dir, 'policy.ed25519')} }
audit:
  port: ${auditPort}
  deliver: new
  sinks:
${sinks}
`,
    );
  }

  const hookSink = (name: string, url: string, start: number) =>
    `    - { name: ${name}, type: webhook, url: "${url}", secret: "env:${envName}", start: { sequence: ${start} }, retry: { initialDelay: 50ms, maxDelay: 300ms } }`;
  const syslogSink = (start: number) =>
    `    - { name: ${sinkNames.log}, type: syslog, host: 127.0.0.1, port: ${syslog.port}, format: ocsf, start: { sequence: ${start} }, retry: { initialDelay: 50ms, maxDelay: 300ms } }`;

  let auditPort: number;
  let firstSeq: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-audit-service-'));
    configFile = join(dir, 'rungate.yaml');
    writeFileSync(join(dir, 'policy.ed25519'), generateTicketKeyPair().privatePem, { mode: 0o600 });
    envName = `RG_AUDIT_TEST_HOOK_${randomBytes(4).toString('hex').toUpperCase()}`;
    process.env[envName] = HOOK_SECRET;
    database = await createTestDatabase('rgauditsvc');
    process.env['DATABASE_URL'] = database.url;
    db = await openDatabase(database.url);
    nc = await connectNats({ name: 'audit-service-test' });
    jsm = await nc.jetstreamManager();
    publisher = new JetStreamAuditSink(nc);
    webhook = await new WebhookReceiver().start();
    secondHook = await new WebhookReceiver().start();
    syslog = await new SyslogReceiver().start();
    await ensureAuditStream(jsm); // on a fresh NATS no service has made it yet
    firstSeq = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
    auditPort = await freePort();
    writeConfig(auditPort, `${hookSink(sinkNames.hook, webhook.url, firstSeq)}\n${syslogSink(firstSeq)}`);
    policy = await startService(policyService, await createServiceContext('policy', configFile));
    audit = await startService(auditService, await createServiceContext('audit', configFile));
    await eventually(async () => expect((await fetch(`${audit.url}/readyz`)).status).toBe(200));
  });

  afterAll(async () => {
    await audit?.close();
    await policy?.close();
    const prefix = subjectPrefix();
    for (const durable of [`rungate-audit-${prefix}`, ...Object.values(sinkNames).map((n) => `rungate-sink-${n}`)]) {
      await jsm?.consumers.delete(AUDIT_STREAM, durable).catch(() => false);
    }
    await nc?.close();
    await Promise.all([webhook?.stop(), secondHook?.stop(), syslog?.stop()]);
    await db?.destroy();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function publishRun(runId: string, overrides: Partial<AuditEventInput> = {}): Promise<AuditEvent[]> {
    const base = {
      source: 'audit-service-test',
      runId,
      actor: { user: ALICE, groups: ['engineering'], agent: 'claude-code' },
      tool: 'demo.postgres.get_user',
      runbook: { repository: REPOSITORY, path: 'postgres/get_user.runbook.sql', commit: 'c0ffee'.padEnd(40, '0'), sha256: 'a'.repeat(64) },
      connection: { name: 'app-db', type: 'postgres' as const },
      ...overrides,
    };
    return [
      await publisher.publish({ ...base, type: 'audit.run.decided', decision: { effect: 'allow', rule: 'engineering' } }),
      await publisher.publish({ ...base, type: 'audit.run.started' }),
      await publisher.publish({ ...base, type: 'audit.run.completed', outcome: { status: 'succeeded', exitCode: 0, durationMs: 4, rows: 1 } }),
    ];
  }

  async function get(path: string, bearer?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(`${audit.url}${path}`, { headers: { ...headers, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  async function query(params: Record<string, string>): Promise<Page> {
    const res = await get(`/audit/events?${new URLSearchParams(params)}`, auditor.token);
    expect(res.status).toBe(200);
    return res.body as unknown as Page;
  }

  async function stored(runId: string, count: number): Promise<StoredAuditEvent[]> {
    return eventually(async () => {
      const page = await query({ runId });
      expect(page.events).toHaveLength(count);
      return page.events;
    });
  }

  describe('chain writer and sinks', () => {
    it('writes published events to the table and delivers them to a signed webhook and an OCSF syslog receiver', async () => {
      const runId = randomUUID();
      const published = await publishRun(runId);
      const rows = await stored(runId, 3);
      expect(rows.map((r) => (r.event as AuditEvent).id)).toEqual(published.map((e) => e.id));

      const hooks = await eventually(async () => {
        const ours = webhook.requests.filter((r) => r.raw.includes(runId));
        expect(ours).toHaveLength(3);
        return ours;
      });
      expect(hooks.map((r) => (JSON.parse(r.raw.toString()) as AuditEvent).id)).toEqual(published.map((e) => e.id));
      for (const request of hooks) {
        expect(
          verifyWebhookSignature({
            secret: HOOK_SECRET,
            body: request.raw,
            timestamp: request.headers['x-rungate-timestamp'] as string,
            signature: request.headers['x-rungate-signature'] as string,
          }),
        ).toBe(true);
      }
      const frames = await eventually(async () => {
        const ours = syslog.messages.filter((m) => m.includes(runId)).map(parseSyslogMessage);
        expect(ours).toHaveLength(3);
        return ours;
      });
      expect(frames.map((f) => f.msgId)).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.completed']);
      expect(JSON.parse(frames[2]?.msg ?? '{}')).toMatchObject({ class_uid: 6003, metadata: { uid: published[2]?.id } });
    });

    it('reports readiness and metrics: sink lag and failures per sink, the writer lag and role', async () => {
      const ready = await get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body['checks']).toMatchObject({ database: true, 'chain-writer': true, sinks: true, nats: true });
      const metrics = await (await fetch(`${audit.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`rungate_audit_sink_lag_events\\{sink="${sinkNames.hook}",type="webhook"\\} \\d+`));
      expect(metrics).toMatch(new RegExp(`rungate_audit_sink_consecutive_failures\\{sink="${sinkNames.log}",type="syslog"\\} 0`));
      expect(metrics).toMatch(/rungate_audit_lag_events \d+/);
      expect(metrics).toMatch(/rungate_audit_chain_writer 1/);
      expect(metrics).toMatch(/rungate_audit_events_written_total [1-9]\d*/);
    });

    it('keeps delivering to a sink that was down: nothing lost, the failures show in status, runs never wait', async () => {
      await webhook.stop();
      const runId = randomUUID();
      // Publishing does not involve the sink; the table gets the events regardless.
      await publishRun(runId);
      await stored(runId, 3);
      const failing = await eventually(async () => {
        const status = await get('/audit/status', auditor.token);
        const sink = (status.body['sinks'] as { name: string; consecutiveFailures: number; lastError: { code: string } | null }[]).find((s) => s.name === sinkNames.hook);
        expect(sink?.consecutiveFailures).toBeGreaterThan(0);
        return sink;
      });
      expect(failing?.lastError?.code).toBe('CONNECTION');
      await webhook.start();
      await eventually(async () => expect(webhook.requests.filter((r) => r.raw.includes(runId))).toHaveLength(3), 15_000);
    });

    it('applies a changed audit.sinks on reload, and keeps the running sinks when the new list cannot start', async () => {
      const start = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
      writeConfig(auditPort, `${hookSink(sinkNames.hook, webhook.url, firstSeq)}\n${syslogSink(firstSeq)}\n${hookSink(sinkNames.second, secondHook.url, start)}`);
      await eventually(async () => {
        const status = await get('/audit/status', auditor.token);
        expect((status.body['sinks'] as { name: string }[]).map((s) => s.name)).toEqual([sinkNames.hook, sinkNames.log, sinkNames.second]);
      });
      const runId = randomUUID();
      await publishRun(runId);
      // The restarted sinks resume behind whatever the other test files put on the shared stream meanwhile.
      await eventually(async () => expect(secondHook.requests.filter((r) => r.raw.includes(runId))).toHaveLength(3), 60_000);
      await eventually(async () => expect(webhook.requests.filter((r) => r.raw.includes(runId))).toHaveLength(3), 60_000);

      // A secret that cannot be read: the new list is refused as a whole, the old one keeps running.
      writeConfig(
        auditPort,
        `${hookSink(sinkNames.hook, webhook.url, firstSeq)}\n    - { name: t-broken, type: webhook, url: "http://127.0.0.1:9/x", secret: "env:RG_AUDIT_TEST_NEVER_SET" }`,
      );
      const refused = await eventually(async () => {
        const status = await get('/audit/status', auditor.token);
        expect(status.body['sinksReloadError']).toMatch(/t-broken/);
        return status.body;
      });
      expect((refused['sinks'] as { name: string }[]).map((s) => s.name)).toEqual([sinkNames.hook, sinkNames.log, sinkNames.second]);
      const later = randomUUID();
      await publishRun(later);
      await eventually(async () => expect(secondHook.requests.filter((r) => r.raw.includes(later))).toHaveLength(3));
      writeConfig(auditPort, `${hookSink(sinkNames.hook, webhook.url, firstSeq)}\n${syslogSink(firstSeq)}`);
      await eventually(async () => {
        const status = await get('/audit/status', auditor.token);
        expect((status.body['sinks'] as { name: string }[]).map((s) => s.name)).toEqual([sinkNames.hook, sinkNames.log]);
      });
    });

    it('keeps the chain intact through all of it', async () => {
      await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
    });
  });

  describe('query API', () => {
    const runs: Record<string, string> = {};

    beforeAll(async () => {
      runs['alice'] = randomUUID();
      runs['bob'] = randomUUID();
      runs['failed'] = randomUUID();
      await publishRun(runs['alice']);
      await publishRun(runs['bob'], { actor: { user: BOB, groups: ['sre'], agent: 'cursor' }, tool: RESTART, runbook: { repository: REPOSITORY, path: 'k8s/restart.runbook.yaml', commit: 'f'.repeat(40), sha256: 'b'.repeat(64) } });
      await publisher.publish({ type: 'audit.run.failed', source: 'audit-service-test', runId: runs['failed'], actor: { user: BOB, groups: ['sre'], agent: 'cursor' }, outcome: { status: 'failed', errorCode: 'TARGET_UNAVAILABLE' } });
      await stored(runs['failed'], 1);
    });

    it('refuses a missing, malformed or unknown bearer with 401, and a user outside the auditor groups with 403', async () => {
      const missing = await get('/audit/events');
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm="rungate-audit"/);
      expect(missing.body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
      const unknown = await get('/audit/events', 'rg_not-a-token-anyone-has');
      expect(unknown.status).toBe(401);
      const malformed = await fetch(`${audit.url}/audit/events`, { headers: { authorization: 'Basic aW5lczpwdw==' } });
      expect(malformed.status).toBe(401);
      const engineerTry = await get('/audit/events', engineer.token);
      expect(engineerTry.status).toBe(403);
      expect(engineerTry.body).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/alice@example.com may not read the audit trail.*auditors/) } });
      expect((await get('/audit/status', engineer.token)).status).toBe(403);
    });

    it('refuses an agent token of an auditor that was not given the audit:read scope, naming the scope, and records the refusal', async () => {
      const refused = await get('/audit/events', inesAgent.token, { 'user-agent': `probe-${TAG}` });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/not given the audit:read scope.*--scope audit:read/) } });
      expect((await get('/audit/status', inesAgent.token)).status).toBe(403);
      const [attempt] = await eventually(async () => {
        const page = await query({ type: 'audit.attempt.denied', user: 'ines@example.com', code: 'audit-read-refused', since: '10m' });
        const ours = page.events.filter((e) => (e.event as AuditEvent).actor?.userAgent === `probe-${TAG}`);
        expect(ours).toHaveLength(1);
        return ours;
      });
      expect(attempt?.event).toMatchObject({ source: 'audit', actor: { user: 'ines@example.com', agent: 'claude-code' }, outcome: { status: 'denied' }, details: { answered: 'http:403', path: '/audit/events' } });
    });

    it('shows a token narrowed to runbooks or connections only the events about those, and not the status', async () => {
      const k8s = await get(`/audit/events?${new URLSearchParams({ since: '10m', limit: '1000' })}`, k8sAuditor.token);
      expect(k8s.status).toBe(200);
      const k8sEvents = (k8s.body as unknown as Page).events.map((e) => e.event as AuditEvent);
      expect(k8sEvents.map((e) => e.runId)).toEqual([runs['bob'], runs['bob'], runs['bob']]);
      const appDb = await get(`/audit/events?${new URLSearchParams({ since: '10m', limit: '1000', user: ALICE })}`, appDbAuditor.token);
      const appDbEvents = (appDb.body as unknown as Page).events.map((e) => e.event as AuditEvent);
      expect(appDbEvents.length).toBeGreaterThanOrEqual(3);
      expect(appDbEvents.every((e) => e.connection?.name === 'app-db')).toBe(true);
      // The run that failed names no connection: out of sight of a token narrowed to one.
      const failed = await get(`/audit/events?${new URLSearchParams({ runId: runs['failed'] as string })}`, appDbAuditor.token);
      expect((failed.body as unknown as Page).events).toEqual([]);
      expect((await get('/audit/status', k8sAuditor.token)).status).toBe(403);
    });

    it('finds denied attempts by outcome, code and source address', async () => {
      await publisher.publish({
        type: 'audit.attempt.denied',
        source: 'audit-service-test',
        tool: `${REPOSITORY}.postgres.drop_all`,
        actor: { user: CAROL, groups: [], agent: 'probe-bot', ip: '198.51.100.7' },
        outcome: { status: 'denied', errorCode: 'unknown-tool', error: 'unknown tool' },
        details: { answered: 'UNKNOWN_TOOL' },
      });
      const found = await eventually(async () => {
        const page = await query({ outcome: 'denied', code: 'unknown-tool', ip: '198.51.100.7', user: CAROL });
        expect(page.events).toHaveLength(1);
        return page.events;
      });
      expect(found[0]?.event).toMatchObject({ tool: `${REPOSITORY}.postgres.drop_all`, actor: { agent: 'probe-bot' } });
      expect((await query({ outcome: 'denied', runbook: `${REPOSITORY}.postgres.drop_all` })).events).toHaveLength(1);
      expect((await query({ code: 'hidden-tool', user: CAROL })).events).toEqual([]);
    });

    it('filters by user, agent, runbook (tool or path glob), type, run id and time', async () => {
      const byUser = await query({ user: BOB, since: '10m' });
      expect(new Set(byUser.events.map((e) => (e.event as AuditEvent).runId))).toEqual(new Set([runs['bob'], runs['failed']]));
      const byAgent = await query({ agent: 'cursor', runId: runs['bob'] as string });
      expect(byAgent.events.map((e) => (e.event as AuditEvent).type)).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.completed']);
      const byTool = await query({ runbook: RESTART, since: '10m' });
      expect(byTool.events.every((e) => (e.event as AuditEvent).runId === runs['bob'])).toBe(true);
      expect(byTool.events).toHaveLength(3);
      const byPath = await query({ runbook: `${REPOSITORY}/k8s/*`, since: '10m' });
      expect(byPath.events.map((e) => e.seq)).toEqual(byTool.events.map((e) => e.seq));
      const byType = await query({ type: 'audit.run.failed', user: BOB });
      expect(byType.events.map((e) => (e.event as AuditEvent).runId)).toEqual([runs['failed']]);
      const byPrefix = await query({ type: 'audit.run.*', runId: runs['alice'] as string });
      expect(byPrefix.events).toHaveLength(3);
      const future = await query({ since: new Date(Date.now() + 3_600_000).toISOString() });
      expect(future.events).toEqual([]);
      const past = await query({ until: '2000-01-01T00:00:00Z' });
      expect(past.events).toEqual([]);
    });

    it('pages with a cursor: every event once, in chain order, either direction', async () => {
      const all = await query({ since: '10m', user: ALICE, limit: '1000' });
      expect(all.events.length).toBeGreaterThanOrEqual(6);
      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await query({ since: '10m', user: ALICE, limit: '2', ...(cursor ? { cursor } : {}) });
        expect(page.events.length).toBeLessThanOrEqual(2);
        seen.push(...page.events.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(all.events.map((e) => e.seq));
      const newest = await query({ since: '10m', user: ALICE, limit: '2', order: 'desc' });
      const next = await query({ since: '10m', user: ALICE, limit: '2', order: 'desc', cursor: newest.nextCursor as string });
      expect([...newest.events, ...next.events].map((e) => e.seq)).toEqual(seen.slice().reverse().slice(0, 4));
    });

    it('answers bad filters with 400 naming the parameter', async () => {
      const cases: [string, RegExp][] = [
        ['usr=alice', /unknown parameter\(s\) usr/],
        ['since=yesterday', /since: expected an RFC 3339 time/],
        ['limit=5000', /limit/],
        ['order=sideways', /order/],
        ['cursor=bm9wZQ', /invalid cursor/],
        ['user=a&user=b', /user/],
      ];
      for (const [params, message] of cases) {
        const res = await get(`/audit/events?${params}`, auditor.token);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringMatching(message) } });
      }
    });

    it('serves `rungate audit search` and `rungate audit tail` (the built CLI)', async () => {
      const env = { ...process.env, RUNGATE_AUDIT_URL: audit.url as string, RUNGATE_TOKEN: auditor.token };
      const run = promisify(execFile);
      const found = await run(process.execPath, [CLI, 'audit', 'search', '--user', BOB, '--agent', 'cursor', '--runbook', RESTART, '--since', '10m'], { env });
      const lines = found.stdout.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`audit\\.run\\.decided\\s+${BOB} via cursor\\s+${RESTART.replace(/\./g, '\\.')} @ app-db\\s+allow\\s+run ${runs['bob']}`));
      expect(lines[2]).toMatch(/audit\.run\.completed .* succeeded 4ms/);
      const json = await run(process.execPath, [CLI, 'audit', 'search', '--run', runs['failed'] as string, '--json'], { env });
      expect(JSON.parse(json.stdout.trim())).toMatchObject({ type: 'audit.run.failed', runId: runs['failed'], outcome: { errorCode: 'TARGET_UNAVAILABLE' } });
      const forbidden = await run(process.execPath, [CLI, 'audit', 'search'], { env: { ...env, RUNGATE_TOKEN: engineer.token } }).catch((e: { code: number; stderr: string }) => e);
      expect(forbidden).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN: alice@example.com may not read the audit trail/) });

      const before = randomUUID();
      await publishRun(before, { actor: { user: CAROL, groups: ['sre'], agent: 'claude-code' } });
      await stored(before, 3);
      const tail = spawn(process.execPath, [CLI, 'audit', 'tail', '--user', CAROL, '--interval', '200ms'], { env });
      let output = '';
      tail.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      tail.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        // First the recent matches, then whatever is stored after them.
        await eventually(async () => expect(output.trim().split('\n').filter((l) => l.includes(before))).toHaveLength(3), 15_000);
        const runId = randomUUID();
        await publishRun(runId, { actor: { user: CAROL, groups: ['sre'], agent: 'claude-code' } });
        await eventually(async () => expect(output.trim().split('\n').filter((l) => l.includes(runId))).toHaveLength(3), 15_000);
        expect(output).not.toContain(ALICE);
        expect(output).not.toContain(BOB);
      } finally {
        tail.kill('SIGINT');
        const code = await new Promise<number | null>((r) => tail.once('exit', r));
        expect(code).toBe(0);
      }
    });
  });

  describe('`rungate audit verify` against the stream (the built CLI)', () => {
    const run = promisify(execFile);
    const verify = (...args: string[]) =>
      run(process.execPath, [CLI, 'audit', 'verify', '--database', database.url, ...args]).catch((e: { code: number; stdout: string; stderr: string }) => e);

    it('finds the table equal to the AUDIT stream, and checks from a given sequence on', async () => {
      await expect(verify('--stream')).resolves.toMatchObject({ stdout: expect.stringMatching(/^intact: \d+ events, head [0-9a-f]{64}\nmatches the AUDIT stream: \d+ events compared/) });
      const [middle] = (await db.query('SELECT seq FROM audit_events ORDER BY seq OFFSET 3 LIMIT 1')) as { seq: string }[];
      await expect(verify('--from', String(middle?.seq))).resolves.toMatchObject({ stdout: expect.stringMatching(new RegExp(`^intact: \\d+ events from seq ${middle?.seq} \\(anchored on prev_hash [0-9a-f]{64}\\)`)) });
      await expect(verify('--from', 'yesterday')).resolves.toMatchObject({ code: 2 });
    });

    it('names a row that was rewritten with every later hash recomputed, which the chain alone cannot see', async () => {
      const runId = randomUUID();
      await publishRun(runId);
      const [target] = await stored(runId, 3);
      // A superuser rewrites the outcome of one run and re-hashes the chain from there on,
      // holding the writer's append lock so the live writer chains onto the forged head.
      const runner = db.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await runner.query('SELECT pg_advisory_xact_lock(726127103)');
        await runner.query('SET LOCAL session_replication_role = replica');
        const rows = (await runner.query('SELECT seq, prev_hash, event FROM audit_events WHERE seq >= $1 ORDER BY seq', [target?.seq])) as { seq: string; prev_hash: string; event: Record<string, unknown> }[];
        let prev = rows[0]?.prev_hash as string;
        for (const row of rows) {
          const event = Number(row.seq) === target?.seq ? { ...row.event, actor: { user: 'someone-else@example.com', groups: [] } } : row.event;
          const hash = chainHash(prev, event);
          await runner.query('UPDATE audit_events SET event = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [row.seq, JSON.stringify(event), prev, hash]);
          prev = hash;
        }
        await runner.commitTransaction();
      } finally {
        await runner.release();
      }
      await expect(verify()).resolves.toMatchObject({ stdout: expect.stringMatching(/^intact: /) });
      const result = await verify('--stream');
      expect(result).toMatchObject({ code: 1, stdout: expect.stringContaining(`DIFFERS from the AUDIT stream after`) });
      expect(result.stdout).toContain(`event seq ${target?.seq} (id ${(target?.event as AuditEvent).id}) differs from what was published`);
    });
  });
});
