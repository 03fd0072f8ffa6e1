import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@rungate/config';
import {
  AUDIT_STREAM,
  ApprovalsReply,
  AuthorizeReply,
  RUN_STATUS_TOOL,
  RungateError,
  Subjects,
  ToolsReply,
  type ApprovalRun,
  type AuditEvent,
  type Identity,
} from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson, ensureAuditStream } from '@rungate/messaging';
import { openDatabase } from '@rungate/persistence';
import { createServiceContext, startService, type RunningService, type ServiceContext } from '@rungate/runtime';
import { executorPostgresService } from '@rungate/service-executor-postgres';
import { gitSyncService } from '@rungate/service-git-sync';
import { Approvals, policyService } from '@rungate/service-policy';
import { createRunbookRepository, createTestDatabase, eventually, writeTicketKeys, type RunbookRepository, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';

const SET_NOTE = "UPDATE notes SET body = '{{ .body }}', writes = writes + 1 WHERE id = {{ .id | type \"number\" }} RETURNING id, body, writes;\n";
const CHANGED_SET_NOTE = "UPDATE notes SET body = 'changed after approval: {{ .body }}', writes = writes + 100 WHERE id = {{ .id | type \"number\" }} RETURNING id, body, writes;\n";

/**
 * Approvals in the distributed mode (ADR 18), every part real: git-sync over a git
 * repository, two policy replicas over one PostgreSQL (each its own pool), executor-postgres
 * against a real database, all over NATS with the AUDIT stream. The agent's side asks
 * rungate.policy.authorize.v1 as the gateway does; approvers ask rungate.policy.approvals.v1
 * as the gateway's /v1/runs API and the console do.
 */
describe('approvals: held, decided by humans, executed exactly as approved', () => {
  const tag = randomBytes(4).toString('hex');
  const alice = `alice-${tag}@example.com`;
  const lee = `lee-${tag}@example.com`;
  const kim = `kim-${tag}@example.com`;
  const bob = `bob-${tag}@example.com`;
  const dee = `dee-${tag}@example.com`;
  const olga = `olga-${tag}@example.com`;
  let dir: string;
  let configFile: string;
  let repo: RunbookRepository;
  let pg: TestDatabase;
  let target: TestDatabase;
  let targetClient: Client;
  let dbs: Promise<DataSource>[];
  let services: RunningService[];
  let policies: { service: RunningService; ctx: ServiceContext }[];
  let nc: NatsConnection;
  let bus: NatsBus;
  let fromSeq: number;

  const agent = (user: string, groups: string[]): Identity => ({ user, groups, agent: 'claude-code', tokenId: `tok-${user}`, scope: {} });
  const human = (user: string, groups: string[]): Identity => ({ user, groups, agent: 'cli', scope: {}, human: true });
  const requester = agent(alice, ['eng']);
  const leeHuman = human(lee, ['leads']);
  const kimHuman = human(kim, ['leads']);

  // Change windows relative to one instant (UTC, minutes): one open now, one that opens in three hours. One instant,
  // so the config and the expectations name the same minutes even when a minute turns between them.
  const suiteStart = Date.now();
  const hhmm = (offsetMinutes: number) => new Date(suiteStart + offsetMinutes * 60_000).toISOString().slice(11, 16);
  const openWindow = `{ from: "${hhmm(-120)}", to: "${hhmm(120)}" }`;
  const laterWindow = `{ from: "${hhmm(180)}", to: "${hhmm(240)}", timeZone: UTC }`;

  function config(extra = ''): string {
    return `
repositories: [{ name: demo, url: ${repo.dir}, pollInterval: 1s }]
connections: [{ name: notes-db, type: postgres, url: env:APPROVALS_TARGET_URL }]
users:
  - { name: ${alice}, groups: [eng] }
  - { name: ${bob}, groups: [eng] }
  - { name: ${lee}, groups: [leads] }
  - { name: ${kim}, groups: [leads] }
  - { name: ${dee}, groups: [dbas] }
  - { name: ${olga}, groups: [oncall] }
rules:
  - { name: notes-pair, groups: [eng], connections: [notes-db], runbooks: ["demo/pair/**"], approval: { groups: [leads], count: 2, ttl: 1h } }
  - { name: notes-one, groups: [eng], connections: [notes-db], runbooks: ["demo/one/**"], approval: { groups: [leads] } }
  - { name: notes-open, groups: [eng], connections: [notes-db], runbooks: ["demo/open/**"], approval: { groups: [leads], window: ${openWindow} } }
  - { name: notes-later, groups: [eng], connections: [notes-db], runbooks: ["demo/later/**"], approval: { groups: [leads], window: ${laterWindow} } }
  - { name: notes-all, groups: [eng], connections: [notes-db], runbooks: ["demo/all/**"], approval: { groups: [leads, dbas], count: 2, allGroups: true, breakGlassGroups: [oncall] } }
gitSync: { cacheDir: ${join(dir, 'cache')}, port: 0 }
${readFileSync(join(dir, 'tickets.line'), 'utf8')}
${extra}`;
  }

  const authorize = (identity: Identity, tool: string, args: Record<string, unknown>, idempotencyKey?: string) =>
    bus.request(Subjects.policyAuthorize, { identity, tool, arguments: args, ...(idempotencyKey ? { idempotencyKey } : {}) }, AuthorizeReply, { timeoutMs: 10_000 });
  const approvals = (request: Record<string, unknown>) => bus.request(Subjects.policyApprovals, request, ApprovalsReply, { timeoutMs: 20_000 });
  const approve = (identity: Identity, runId: string, comment?: string) => approvals({ action: 'approve', identity, runId, ...(comment ? { comment } : {}) }).then((r) => r.runs[0] as ApprovalRun);
  const get = (identity: Identity, runId: string) => approvals({ action: 'get', identity, runId }).then((r) => r.runs[0] as ApprovalRun);

  async function refusal(request: Promise<unknown>): Promise<RungateError> {
    const error = await request.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (!(error instanceof RungateError)) throw new Error(`expected a refusal, got ${JSON.stringify(error)}`);
    return error;
  }

  async function hold(tool: string, id: number, body: string, idempotencyKey?: string) {
    const reply = await authorize(requester, tool, { id, body }, idempotencyKey);
    if (reply.effect !== 'approval_required') throw new Error(`expected the call to be held, got ${reply.effect}`);
    return reply;
  }

  async function note(id: number): Promise<{ body: string; writes: number }> {
    const { rows } = await targetClient.query('SELECT body, writes FROM notes WHERE id = $1', [id]);
    return rows[0] as { body: string; writes: number };
  }

  /** The events of the AUDIT stream for `runId` since this file started. */
  async function auditOf(runId: string): Promise<AuditEvent[]> {
    const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { filterSubjects: 'audit.>', opt_start_seq: fromSeq });
    const found: AuditEvent[] = [];
    for await (const message of await consumer.fetch({ max_messages: 10_000, expires: 1000 })) {
      const event = decodeJson(message.data) as AuditEvent;
      if (event.runId === runId) found.push(event);
    }
    return found;
  }

  const ended = (identity: Identity, runId: string) =>
    eventually(async () => {
      const run = await get(identity, runId);
      if (run.state === 'executing' || run.state === 'approved') throw new Error(`run ${runId} is ${run.state}`);
      return run;
    }, 30_000);

  async function startPolicy(index: number): Promise<void> {
    const ctx = { ...(await createServiceContext(`policy-${index}`, configFile)), database: () => dbs[index] as Promise<DataSource> };
    policies[index] = { service: await startService(policyService, ctx, { shutdownHooks: false }), ctx };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-approvals-'));
    writeFileSync(join(dir, 'tickets.line'), writeTicketKeys(dir));
    repo = createRunbookRepository({ 'pair/set_note.runbook.sql': SET_NOTE, 'one/set_note.runbook.sql': SET_NOTE, 'all/set_note.runbook.sql': SET_NOTE, 'open/set_note.runbook.sql': SET_NOTE, 'later/set_note.runbook.sql': SET_NOTE });
    configFile = join(dir, 'rungate.yaml');
    writeFileSync(configFile, config());
    target = await createTestDatabase('rg_appr_target');
    process.env['APPROVALS_TARGET_URL'] = target.url;
    targetClient = new Client({ connectionString: target.url });
    await targetClient.connect();
    await targetClient.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL, writes int NOT NULL DEFAULT 0)');
    await targetClient.query("INSERT INTO notes (id, body) SELECT g, 'initial' FROM generate_series(1, 30) g");
    pg = await createTestDatabase('rg_approvals');
    dbs = [openDatabase(pg.url), openDatabase(pg.url)];
    nc = await connectNats({ name: 'approvals-test' });
    bus = new NatsBus(nc);
    const jsm = await nc.jetstreamManager();
    await ensureAuditStream(jsm); // on a fresh NATS no service has made it yet
    fromSeq = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
    services = [
      await startService(gitSyncService, await createServiceContext('git-sync', configFile), { shutdownHooks: false }),
      await startService(executorPostgresService, await createServiceContext('executor-postgres', configFile), { shutdownHooks: false }),
    ];
    policies = [];
    await startPolicy(0);
    await startPolicy(1);
    await eventually(async () => {
      const { tools } = await bus.request(Subjects.policyTools, { identity: requester }, ToolsReply, { timeoutMs: 5000 });
      if (!tools.some((t) => t.name === 'demo.pair.set_note')) throw new Error('catalog not loaded');
    }, 60_000);
  });

  afterAll(async () => {
    for (const { service } of policies ?? []) await service.close();
    for (const service of services ?? []) await service.close();
    for (const db of dbs ?? []) await (await db.catch(() => undefined))?.destroy();
    await targetClient?.end();
    await nc?.close();
    await pg?.drop();
    await target?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the call with exactly what will run, runs nothing, and lists rungate_run_status for the requester', async () => {
    const held = await hold('demo.pair.set_note', 1, 'first');
    expect(held).toMatchObject({ runId: expect.any(String), approvers: { groups: ['leads'], count: 2 }, state: 'pending' });
    expect(Date.parse(held.expiresAt) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(await note(1)).toEqual({ body: 'initial', writes: 0 });
    const run = await get(leeHuman, held.runId);
    expect(run).toMatchObject({
      state: 'pending',
      tool: 'demo.pair.set_note',
      rule: 'notes-pair',
      runbook: { repository: 'demo', path: 'pair/set_note.runbook.sql' },
      connection: { name: 'notes-db', type: 'postgres' },
      body: "UPDATE notes SET body = 'first', writes = writes + 1 WHERE id = 1 RETURNING id, body, writes;\n",
      params: { id: '1', body: 'first' },
      requester: { user: alice, agent: 'claude-code' },
      approval: { groups: ['leads'], count: 2, approved: 0 },
      holds: [{ by: 'rule', name: 'notes-pair' }],
      decisions: [],
    });
    const decided = (await auditOf(held.runId)).filter((e) => e.type === 'audit.run.decided');
    expect(decided).toEqual([expect.objectContaining({ decision: expect.objectContaining({ effect: 'approval_required', rule: 'notes-pair' }), actor: expect.objectContaining({ user: alice }) })]);

    const { tools } = await bus.request(Subjects.policyTools, { identity: requester }, ToolsReply, { timeoutMs: 5000 });
    expect(tools.map((t) => t.name)).toContain(RUN_STATUS_TOOL);
    const status = await authorize(requester, RUN_STATUS_TOOL, { runId: held.runId });
    expect(status).toMatchObject({ effect: 'answered', structuredContent: { runId: held.runId, state: 'pending', expiresAt: held.expiresAt, decisions: [] } });
    // Another user's run is one that does not exist; a user who can call no held tool does not have the tool.
    await expect(refusal(authorize(agent(bob, ['eng']), RUN_STATUS_TOOL, { runId: held.runId }))).resolves.toMatchObject({ code: 'UNKNOWN_RUN' });
    await expect(refusal(authorize(agent(lee, ['leads']), RUN_STATUS_TOOL, { runId: held.runId }))).resolves.toMatchObject({ code: 'UNKNOWN_TOOL' });
    // The approvers' list: an approver sees it, the requester and anyone outside the groups do not.
    const listed = async (identity: Identity) => (await approvals({ action: 'list', identity })).runs.map((r) => r.runId);
    expect(await listed(leeHuman)).toContain(held.runId);
    expect(await listed(human(alice, ['eng', 'leads']))).not.toContain(held.runId);
    expect(await listed(human(bob, ['eng']))).not.toContain(held.runId);
    await expect(refusal(get(human(bob, ['eng']), held.runId))).resolves.toMatchObject({ code: 'UNKNOWN_RUN' });
  });

  it('never lets the requester, an agent token or a non-approver decide, each refusal on the record', async () => {
    const held = await hold('demo.one.set_note', 2, 'second');
    const cases: [Identity, string][] = [
      [human(alice, ['eng', 'leads']), 'SELF_APPROVAL'],
      // Another agent (here the CLI) of the same human is the same human.
      [{ ...human(alice, ['leads']), agent: 'other-agent', tokenId: 'tok-other' }, 'SELF_APPROVAL'],
      [agent(lee, ['leads']), 'AGENT_CANNOT_APPROVE'],
      [human(bob, ['eng']), 'NOT_AN_APPROVER'],
    ];
    for (const [identity, code] of cases) {
      const error = await refusal(approve(identity, held.runId));
      expect({ user: identity.user, code: error.code }).toEqual({ user: identity.user, code });
      expect(error.details?.['attemptRecorded']).toBe(true);
    }
    await expect(refusal(approve(leeHuman, 'no-such-run'))).resolves.toMatchObject({ code: 'UNKNOWN_RUN' });
    expect((await get(leeHuman, held.runId)).state).toBe('pending');
    expect(await note(2)).toEqual({ body: 'initial', writes: 0 });
    const attempts = await eventually(async () => {
      const found = (await auditOf(held.runId)).filter((e) => e.type === 'audit.attempt.denied');
      if (found.length < cases.length) throw new Error(`${found.length} attempts recorded`);
      return found;
    });
    expect(attempts.map((e) => [e.outcome?.errorCode, e.details?.['answered']])).toEqual(cases.map(([, code]) => ['approval-refused', code]));
  });

  it('runs after a quorum of two humans, once, with the approved body, each approver counted once', async () => {
    const held = await hold('demo.pair.set_note', 3, 'third');
    const first = await approve(leeHuman, held.runId, 'looks right');
    expect(first).toMatchObject({ state: 'pending', approval: { approved: 1, count: 2 } });
    await expect(refusal(approve(leeHuman, held.runId))).resolves.toMatchObject({ code: 'RUN_NOT_PENDING' });
    expect(await note(3)).toEqual({ body: 'initial', writes: 0 });
    const second = await approve(kimHuman, held.runId);
    expect(['executing', 'executed']).toContain(second.state);
    const done = await ended(kimHuman, held.runId);
    expect(done).toMatchObject({ state: 'executed', outcome: { status: 'succeeded', result: { kind: 'sql', rows: [{ id: 3, body: 'third', writes: 1 }] } } });
    expect(done.decisions.map((d) => [d.actor.user, d.verdict, d.comment])).toEqual([
      [lee, 'approved', 'looks right'],
      [kim, 'approved', undefined],
    ]);
    expect(await note(3)).toEqual({ body: 'third', writes: 1 });
    const status = await authorize(requester, RUN_STATUS_TOOL, { runId: held.runId });
    expect(status).toMatchObject({ effect: 'answered', structuredContent: { state: 'executed', result: { rows: [{ id: 3, body: 'third', writes: 1 }] } } });
    const events = await eventually(async () => {
      const found = await auditOf(held.runId);
      if (!found.some((e) => e.type === 'audit.run.completed')) throw new Error('no outcome yet');
      return found;
    });
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'audit.run.approved')).toHaveLength(2);
    expect(types.filter((t) => t === 'audit.run.started')).toHaveLength(1);
    expect(events.find((e) => e.type === 'audit.run.approved')).toMatchObject({ actor: expect.objectContaining({ user: lee }), details: expect.objectContaining({ comment: 'looks right' }) });
  });

  it('with allGroups, waits for an approver of each group beyond the count, then runs once', async () => {
    const held = await hold('demo.all.set_note', 15, 'all groups');
    // The agent's answer names the whole approval, as the approvers' view does.
    expect(held.approvers).toEqual({ groups: ['leads', 'dbas'], count: 2, allGroups: true, breakGlassGroups: ['oncall'] });
    expect((await get(leeHuman, held.runId)).approval).toEqual({ groups: ['leads', 'dbas'], count: 2, allGroups: true, breakGlassGroups: ['oncall'], approved: 0 });
    await expect(approve(leeHuman, held.runId)).resolves.toMatchObject({ state: 'pending', approval: { approved: 1 } });
    // The count is reached, but nobody of dbas approved yet.
    await expect(approve(kimHuman, held.runId)).resolves.toMatchObject({ state: 'pending', approval: { approved: 2 } });
    expect(await note(15)).toEqual({ body: 'initial', writes: 0 });
    const last = await approve(human(dee, ['dbas']), held.runId);
    expect(['executing', 'executed']).toContain(last.state);
    const done = await ended(leeHuman, held.runId);
    expect(done).toMatchObject({ state: 'executed', outcome: { status: 'succeeded' } });
    expect(done.decisions.map((d) => [d.actor.user, d.groups, d.breakGlass])).toEqual([
      [lee, ['leads'], undefined],
      [kim, ['leads'], undefined],
      [dee, ['dbas'], undefined],
    ]);
    expect(await note(15)).toEqual({ body: 'all groups', writes: 1 });
    const approved = (await auditOf(held.runId)).filter((e) => e.type === 'audit.run.approved');
    expect(approved.map((e) => [e.details?.['state'], e.details?.['allGroups'], e.details?.['breakGlass']])).toEqual([
      ['pending', true, undefined],
      ['pending', true, undefined],
      ['approved', true, undefined],
    ]);
  });

  it('runs on one break-glass approval alone, marked breakGlass in the decision and in audit.run.approved', async () => {
    const held = await hold('demo.all.set_note', 20, 'break glass');
    // olga is in no approver group, only the break-glass one: she may decide, and alone.
    expect((await approvals({ action: 'list', identity: human(olga, ['oncall']) })).runs.map((r) => r.runId)).toContain(held.runId);
    const approved = await approve(human(olga, ['oncall']), held.runId, 'incident 42');
    expect(['executing', 'executed']).toContain(approved.state);
    const done = await ended(leeHuman, held.runId);
    expect(done).toMatchObject({ state: 'executed', decisions: [{ actor: { user: olga }, groups: ['oncall'], breakGlass: true, comment: 'incident 42' }] });
    expect(await note(20)).toEqual({ body: 'break glass', writes: 1 });
    await expect(refusal(approve(leeHuman, held.runId))).resolves.toMatchObject({ code: 'RUN_NOT_PENDING' });
    const events = await eventually(async () => {
      const found = await auditOf(held.runId);
      if (!found.some((e) => e.type === 'audit.run.completed')) throw new Error('no outcome yet');
      return found;
    });
    expect(events.filter((e) => e.type === 'audit.run.approved')).toEqual([
      expect.objectContaining({ actor: expect.objectContaining({ user: olga }), details: expect.objectContaining({ breakGlass: true, groups: ['oncall'], approvals: 1, count: 2, state: 'approved' }) }),
    ]);
    expect(events.filter((e) => e.type === 'audit.run.started')).toHaveLength(1);
  });

  it('gives one execution when two approvers of a one-approval run decide at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const id = 10 + round;
      const held = await hold('demo.one.set_note', id, `race-${round}`);
      const results = await Promise.allSettled([approve(leeHuman, held.runId), approve(kimHuman, held.runId)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ code: 'RUN_NOT_PENDING' });
      await expect(ended(leeHuman, held.runId)).resolves.toMatchObject({ state: 'executed' });
      expect(await note(id)).toEqual({ body: `race-${round}`, writes: 1 });
    }
  });

  it('answers the same held run to the same call again under its idempotency key, never a second request or run', async () => {
    const key = `key-${tag}`;
    const held = await hold('demo.one.set_note', 4, 'fourth', key);
    const again = await hold('demo.one.set_note', 4, 'fourth', key);
    expect(again).toEqual(held);
    await approve(leeHuman, held.runId);
    await ended(leeHuman, held.runId);
    const later = await hold('demo.one.set_note', 4, 'fourth', key);
    expect(later).toMatchObject({ runId: held.runId, state: 'executed' });
    await expect(refusal(authorize(requester, 'demo.one.set_note', { id: 4, body: 'other' }, key))).resolves.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(await note(4)).toEqual({ body: 'fourth', writes: 1 });
    expect((await auditOf(held.runId)).filter((e) => e.type === 'audit.run.decided')).toHaveLength(1);
  });

  it('never holds a dry run: it is allowed and signed at once, never stored as a held run', async () => {
    const reply = await authorize(requester, 'demo.one.set_note', { id: 5, body: 'dry', dryRun: true });
    if (reply.effect !== 'allow') throw new Error(`expected allow, got ${reply.effect}`);
    const db = await (dbs[0] as Promise<DataSource>);
    await expect(db.query('SELECT run_id FROM approval_runs WHERE run_id = $1', [reply.runId])).resolves.toEqual([]);
  });

  it('ends a run on a rejection, with its reason; a later approval is refused', async () => {
    const held = await hold('demo.one.set_note', 6, 'sixth');
    await expect(refusal(approvals({ action: 'reject', identity: agent(kim, ['leads']), runId: held.runId, reason: 'no' }))).resolves.toMatchObject({ code: 'AGENT_CANNOT_APPROVE' });
    const rejected = (await approvals({ action: 'reject', identity: kimHuman, runId: held.runId, reason: 'not during the freeze' })).runs[0];
    expect(rejected).toMatchObject({ state: 'rejected', decisions: [{ actor: { user: kim }, verdict: 'rejected', comment: 'not during the freeze' }] });
    await expect(refusal(approve(leeHuman, held.runId))).resolves.toMatchObject({ code: 'RUN_NOT_PENDING', message: expect.stringContaining('is rejected') });
    expect(await note(6)).toEqual({ body: 'initial', writes: 0 });
    const events = await auditOf(held.runId);
    expect(events.find((e) => e.type === 'audit.run.rejected')).toMatchObject({ actor: expect.objectContaining({ user: kim }), details: expect.objectContaining({ comment: 'not during the freeze' }) });
  });

  it('expires a run past its ttl: a late approval expires it and is refused; pending runs survive a restart, whose sweep expires what is due and starts an approved run left unstarted', async () => {
    const late = await hold('demo.one.set_note', 7, 'seventh');
    const swept = await hold('demo.one.set_note', 8, 'eighth');
    const survivor = await hold('demo.one.set_note', 9, 'ninth');
    // Approved by its quorum, then its policy stopped before it started it: the sweep starts it.
    const stalled = await hold('demo.one.set_note', 19, 'stalled');
    const db = await (dbs[0] as Promise<DataSource>);
    await db.query(
      `UPDATE approval_runs SET state = 'approved', updated_at = now() - interval '1 minute',
         decisions = jsonb_build_array(jsonb_build_object('actor', jsonb_build_object('user', $2::text), 'verdict', 'approved', 'at', now()::text)) WHERE run_id = $1`,
      [stalled.runId, lee],
    );
    await db.query("UPDATE approval_runs SET expires_at = now() - interval '1 second' WHERE run_id = ANY($1)", [[late.runId, swept.runId]]);
    await expect(refusal(approve(leeHuman, late.runId))).resolves.toMatchObject({ code: 'RUN_NOT_PENDING', message: expect.stringContaining('expired') });
    expect(await note(7)).toEqual({ body: 'initial', writes: 0 });
    // Both replicas stop and start again: the held runs are in the database; the start-up sweep expires the due one.
    for (const index of [0, 1]) {
      await policies[index]?.service.close();
      await startPolicy(index);
    }
    await eventually(async () => {
      const rows: { state: string }[] = await db.query('SELECT state FROM approval_runs WHERE run_id = $1', [swept.runId]);
      if (rows[0]?.state !== 'expired') throw new Error(`run is ${rows[0]?.state}`);
    }, 30_000);
    expect((await auditOf(swept.runId)).filter((e) => e.type === 'audit.run.expired')).toHaveLength(1);
    expect((await auditOf(late.runId)).filter((e) => e.type === 'audit.run.expired')).toHaveLength(1);
    await expect(ended(leeHuman, stalled.runId)).resolves.toMatchObject({ state: 'executed' });
    expect(await note(19)).toEqual({ body: 'stalled', writes: 1 });
    await eventually(() => approve(leeHuman, survivor.runId), 30_000);
    await expect(ended(leeHuman, survivor.runId)).resolves.toMatchObject({ state: 'executed' });
    expect(await note(9)).toEqual({ body: 'ninth', writes: 1 });
  });

  /** Every replica's sweep at once, as their 30 s timers would run it. */
  const sweepAll = () => Promise.all(policies.map(({ service }) => service.app.get(Approvals).sweep()));

  it('starts at once a quorum reached inside its change window', async () => {
    const held = await hold('demo.open.set_note', 21, 'in the window');
    expect(held.windows).toEqual([{ days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: hhmm(-120), to: hhmm(120), timeZone: 'UTC' }]);
    const approved = await approve(leeHuman, held.runId);
    expect(['executing', 'executed']).toContain(approved.state);
    await expect(ended(leeHuman, held.runId)).resolves.toMatchObject({ state: 'executed' });
    expect(await note(21)).toEqual({ body: 'in the window', writes: 1 });
  });

  it('keeps a quorum reached outside its window approved, with when it may start; the sweep starts it once when the window opens, never before', async () => {
    const held = await hold('demo.later.set_note', 22, 'later');
    expect(held.windows).toEqual([expect.objectContaining({ from: hhmm(180), to: hhmm(240), timeZone: 'UTC' })]);
    const approved = await approve(leeHuman, held.runId, 'in tonight\'s window');
    expect(approved).toMatchObject({ state: 'approved', startsAt: expect.any(String), windowEndsAt: expect.any(String) });
    // The next opening, on the database's clock: three hours from now, to the minute.
    const startsIn = Date.parse(approved.startsAt as string) - Date.now();
    expect(Math.abs(startsIn - 180 * 60_000)).toBeLessThan(2 * 60_000);
    expect(Date.parse(approved.windowEndsAt as string) - Date.parse(approved.startsAt as string)).toBe(60 * 60_000);
    const status = await authorize(requester, RUN_STATUS_TOOL, { runId: held.runId });
    expect(status).toMatchObject({ effect: 'answered', structuredContent: { state: 'approved', startsAt: approved.startsAt }, text: expect.stringContaining(`may start in its change window from ${approved.startsAt}`) });
    const [event] = (await auditOf(held.runId)).filter((e) => e.type === 'audit.run.approved');
    expect(event?.details).toMatchObject({ state: 'approved', startsAt: approved.startsAt, windowEndsAt: approved.windowEndsAt });
    // Approved long ago by the database's clock, so no grace hides it: the sweeps of both replicas leave it waiting.
    const db = await (dbs[0] as Promise<DataSource>);
    await db.query("UPDATE approval_runs SET updated_at = now() - interval '10 minutes' WHERE run_id = $1", [held.runId]);
    await sweepAll();
    await expect(get(leeHuman, held.runId)).resolves.toMatchObject({ state: 'approved' });
    expect(await note(22)).toEqual({ body: 'initial', writes: 0 });
    // Its slot's opening reached (the stored slot moved to now, as three hours passing would): both replicas sweep, one runs it.
    await db.query("UPDATE approval_runs SET starts_at = now() - interval '1 minute', window_ends_at = now() + interval '59 minutes' WHERE run_id = $1", [held.runId]);
    await sweepAll();
    await expect(ended(leeHuman, held.runId)).resolves.toMatchObject({ state: 'executed' });
    expect(await note(22)).toEqual({ body: 'later', writes: 1 });
    const events = await eventually(async () => {
      const found = await auditOf(held.runId);
      if (!found.some((e) => e.type === 'audit.run.completed')) throw new Error('no outcome yet');
      return found;
    });
    expect(events.filter((e) => e.type === 'audit.run.started')).toHaveLength(1);
  });

  it('expires an approved run whose window closed before any replica started it, audited with why; it never starts late', async () => {
    const held = await hold('demo.later.set_note', 23, 'missed');
    await expect(approve(leeHuman, held.runId)).resolves.toMatchObject({ state: 'approved' });
    const db = await (dbs[0] as Promise<DataSource>);
    // Every replica was down for the whole slot: it opened two hours ago and closed one hour ago.
    await db.query("UPDATE approval_runs SET starts_at = now() - interval '2 hours', window_ends_at = now() - interval '1 hour' WHERE run_id = $1", [held.runId]);
    await sweepAll();
    const run = await get(leeHuman, held.runId);
    expect(run).toMatchObject({ state: 'expired', outcome: { errorCode: 'FORBIDDEN', error: expect.stringContaining('before the window closed') } });
    expect(await note(23)).toEqual({ body: 'initial', writes: 0 });
    const status = await authorize(requester, RUN_STATUS_TOOL, { runId: held.runId });
    expect(status).toMatchObject({ structuredContent: { state: 'expired', error: { code: 'FORBIDDEN' } } });
    const expired = await eventually(async () => {
      const found = (await auditOf(held.runId)).filter((e) => e.type === 'audit.run.expired');
      if (found.length === 0) throw new Error('not audited yet');
      return found;
    });
    expect(expired).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: expect.stringContaining('never starts outside its window') }) })]);
    expect((await auditOf(held.runId)).filter((e) => e.type === 'audit.run.started')).toHaveLength(0);
  });

  it('runs the stored body after the runbook changed and its branch moved', async () => {
    const held = await hold('demo.one.set_note', 16, 'approved body');
    repo.commit({ 'one/set_note.runbook.sql': CHANGED_SET_NOTE }, 'change the runbook after the request');
    // The catalog has the new runbook: a fresh dry run renders it.
    await eventually(async () => {
      const reply = await authorize(requester, 'demo.one.set_note', { id: 16, body: 'x', dryRun: true });
      if (reply.effect !== 'allow' || !reply.body.includes('changed after approval')) throw new Error('catalog not updated yet');
    }, 30_000);
    const approved = await approve(leeHuman, held.runId);
    expect(approved.body).toBe("UPDATE notes SET body = 'approved body', writes = writes + 1 WHERE id = 16 RETURNING id, body, writes;\n");
    await expect(ended(leeHuman, held.runId)).resolves.toMatchObject({ state: 'executed', outcome: { status: 'succeeded' } });
    expect(await note(16)).toEqual({ body: 'approved body', writes: 1 });
  });

  it('fails closed when the connection or the rule went away after the request: nothing executed', async () => {
    const noConnection = await hold('demo.one.set_note', 17, 'no connection');
    const noRule = await hold('demo.one.set_note', 18, 'no rule');
    const original = parseConfig(config());
    const withoutRule = parseConfig(config().replace(/\n {2}- \{ name: notes-one[^\n]*/, ''));
    const withoutConnection = parseConfig(
      config()
        .replace('connections: [{ name: notes-db, type: postgres, url: env:APPROVALS_TARGET_URL }]', 'connections: [{ name: other-db, type: postgres, url: env:APPROVALS_TARGET_URL }]')
        .replaceAll('connections: [notes-db]', 'connections: [other-db]'),
    );
    try {
      for (const { ctx } of policies) ctx.config.replace(withoutConnection);
      await expect(approve(leeHuman, noConnection.runId)).resolves.toMatchObject({
        state: 'failed',
        outcome: { status: 'failed', errorCode: 'FORBIDDEN', error: 'connection notes-db was removed after approval; nothing was executed' },
      });
      for (const { ctx } of policies) ctx.config.replace(withoutRule);
      await expect(approve(leeHuman, noRule.runId)).resolves.toMatchObject({ state: 'failed', outcome: { error: 'rule notes-one was removed after approval; nothing was executed' } });
    } finally {
      for (const { ctx } of policies) ctx.config.replace(original);
    }
    expect(await note(17)).toEqual({ body: 'initial', writes: 0 });
    expect(await note(18)).toEqual({ body: 'initial', writes: 0 });
    const failed = (await auditOf(noConnection.runId)).filter((e) => e.type === 'audit.run.failed');
    expect(failed).toEqual([expect.objectContaining({ source: 'policy', outcome: expect.objectContaining({ errorCode: 'FORBIDDEN' }) })]);
  });
});
