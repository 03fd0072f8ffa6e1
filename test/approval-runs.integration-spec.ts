import { randomUUID } from 'node:crypto';
import type { ApprovalDecision } from '@rungate/contracts';
import { ApprovalRunStore, TaskResultStore, openDatabase, type NewApprovalRun } from '@rungate/persistence';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import type { DataSource } from 'typeorm';

function heldRun(overrides: Partial<NewApprovalRun> = {}): NewApprovalRun {
  return {
    runId: randomUUID(),
    requester: { identity: { user: 'alice', groups: ['eng'], agent: 'claude-code', tokenId: 'tok-a' }, meta: { ip: '10.0.0.1' } },
    tool: 'demo.pg.update',
    runbook: { repository: 'demo', path: 'pg/update.runbook.sql', commit: 'c'.repeat(40), sha256: 'd'.repeat(64) },
    connection: { name: 'prod-db', type: 'postgres' },
    rule: 'prod-writes',
    body: "UPDATE users SET email = 'a@b.c' WHERE id = 1;",
    bodySha256: 'e'.repeat(64),
    params: { id: '1', email: 'a@b.c' },
    env: {},
    execution: { limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1 << 20 }, readOnly: false },
    approval: { groups: ['leads'], count: 2, ttlMs: 3_600_000, holds: [{ by: 'rule', name: 'prod-writes' }] },
    ...overrides,
  };
}

const yes = (user: string): ApprovalDecision => ({ actor: { user, agent: 'cli' }, verdict: 'approved', comment: `ok from ${user}`, at: new Date().toISOString() });
/** An approval by a member of `groups` (recorded at decision time, as the policy handler records them). */
const yesFrom = (user: string, groups: string[], breakGlass = false): ApprovalDecision => ({ ...yes(user), groups, ...(breakGlass ? { breakGlass: true } : {}) });
const no = (user: string): ApprovalDecision => ({ actor: { user }, verdict: 'rejected', comment: 'not now', at: new Date().toISOString() });

/**
 * Held runs shared by two policy replicas (two pools over one PostgreSQL, as two processes
 * have): every transition is conditional, so racing approvers give one quorum and exactly one
 * caller that may execute. On PGlite the same statements run in test/approvals.e2e-spec.ts
 * (`rungate serve`, a real process: PGlite's WASM cannot load under jest).
 */
describe('approval_runs shared by policy replicas', () => {
  let database: TestDatabase;
  let first: DataSource;
  let second: DataSource;
  let a: ApprovalRunStore;
  let b: ApprovalRunStore;

  beforeAll(async () => {
    database = await createTestDatabase('rgappr');
    first = await openDatabase(database.url);
    second = await openDatabase(database.url);
    a = new ApprovalRunStore(first);
    b = new ApprovalRunStore(second);
  });

  afterAll(async () => {
    await first?.destroy();
    await second?.destroy();
    await database?.drop();
  });

  it('stores exactly what will run, pending until now + ttl', async () => {
    const run = heldRun();
    const { run: stored, created } = await a.hold(run);
    expect(created).toBe(true);
    expect(stored).toMatchObject({ ...run, state: 'pending', decisions: [] });
    expect(stored.outcome).toBeUndefined();
    const ttl = Date.parse(stored.expiresAt) - Date.parse(stored.createdAt);
    expect(ttl).toBe(3_600_000);
    await expect(b.get(run.runId)).resolves.toEqual(stored);
  });

  it('answers the stored run to the same call again, on either replica, and changes nothing', async () => {
    const run = heldRun();
    const results = await Promise.all([a.hold(run), b.hold(run)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results[0]?.run).toEqual(results[1]?.run);
    // Whatever a later call would store, the held run stays what was first stored.
    const again = await b.hold({ ...run, body: 'DROP TABLE users;', approval: { ...run.approval, count: 1 } });
    expect(again).toEqual({ created: false, run: results[0]?.run });
    const rows: { n: string }[] = await first.query('SELECT count(*) AS n FROM approval_runs WHERE run_id = $1', [run.runId]);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('two approvers at once on two replicas complete a quorum of 2 once, and one caller moves it to executing', async () => {
    for (let round = 0; round < 20; round++) {
      const { run } = await a.hold(heldRun());
      const decided = await Promise.all([a.approve(run.runId, yes('lee')), b.approve(run.runId, yes('kim'))]);
      expect(decided.every((r) => r !== undefined)).toBe(true);
      expect(decided.map((r) => r?.state).sort()).toEqual(['approved', 'pending']);
      const claims = await Promise.all([a.claim(run.runId), b.claim(run.runId)]);
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
      const stored = await a.get(run.runId);
      expect(stored?.decisions.map((d) => d.actor.user).sort()).toEqual(['kim', 'lee']);
      expect(stored?.state).toBe('executing');
    }
  });

  it('with a quorum of 1, of two approvers at once only one decision counts', async () => {
    for (let round = 0; round < 20; round++) {
      const { run } = await a.hold(heldRun({ approval: { groups: ['leads'], count: 1, ttlMs: 60_000, holds: [] } }));
      const decided = await Promise.all([a.approve(run.runId, yes('lee')), b.approve(run.runId, yes('kim'))]);
      expect(decided.filter((r) => r?.state === 'approved')).toHaveLength(1);
      expect(decided.filter((r) => r === undefined)).toHaveLength(1);
      expect((await b.get(run.runId))?.decisions).toHaveLength(1);
    }
  });

  it('with allGroups, a quorum needs an approval from each group, and still the count', async () => {
    const approval = { groups: ['sre', 'dba'], count: 3, allGroups: true, ttlMs: 3_600_000, holds: [] };
    const { run } = await a.hold(heldRun({ approval }));
    await expect(a.approve(run.runId, yesFrom('lee', ['sre']))).resolves.toMatchObject({ state: 'pending' });
    // Three approvals, but all from sre: no quorum without dba.
    await expect(b.approve(run.runId, yesFrom('kim', ['sre']))).resolves.toMatchObject({ state: 'pending' });
    await expect(a.approve(run.runId, yesFrom('max', ['sre']))).resolves.toMatchObject({ state: 'pending' });
    const approved = await b.approve(run.runId, yesFrom('dee', ['dba']));
    expect(approved).toMatchObject({ state: 'approved' });
    expect(approved?.decisions.map((d) => d.groups)).toEqual([['sre'], ['sre'], ['sre'], ['dba']]);

    // Each group covered, but the count not yet reached: still pending.
    const { run: counted } = await a.hold(heldRun({ approval }));
    await a.approve(counted.runId, yesFrom('lee', ['sre']));
    await expect(b.approve(counted.runId, yesFrom('dee', ['dba']))).resolves.toMatchObject({ state: 'pending' });
    await expect(a.approve(counted.runId, yesFrom('sam', ['sre', 'dba']))).resolves.toMatchObject({ state: 'approved' });
  });

  it('with allGroups, two approvers from the two groups at once on two replicas complete the quorum once', async () => {
    for (let round = 0; round < 20; round++) {
      const { run } = await a.hold(heldRun({ approval: { groups: ['sre', 'dba'], count: 2, allGroups: true, ttlMs: 60_000, holds: [] } }));
      const decided = await Promise.all([a.approve(run.runId, yesFrom('lee', ['sre'])), b.approve(run.runId, yesFrom('dee', ['dba']))]);
      expect(decided.map((r) => r?.state).sort()).toEqual(['approved', 'pending']);
      const claims = await Promise.all([a.claim(run.runId), b.claim(run.runId)]);
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    }
  });

  it('a break-glass approval approves alone, whatever count and allGroups say; an approver outside it does not', async () => {
    const approval = { groups: ['sre', 'dba'], count: 3, allGroups: true, breakGlassGroups: ['oncall'], ttlMs: 3_600_000, holds: [] };
    const { run } = await a.hold(heldRun({ approval }));
    const approved = await b.approve(run.runId, yesFrom('olga', ['oncall'], true));
    expect(approved).toMatchObject({ state: 'approved', decisions: [{ actor: { user: 'olga' }, groups: ['oncall'], breakGlass: true }] });
    // Without a break-glass group among the approver's groups, the flag alone approves nothing.
    const { run: other } = await a.hold(heldRun({ approval }));
    await expect(a.approve(other.runId, yesFrom('lee', ['sre'], true))).resolves.toMatchObject({ state: 'pending' });
  });

  it('a break-glass approval racing ordinary approvals on two replicas gives one quorum, and one caller moves it to executing', async () => {
    for (let round = 0; round < 20; round++) {
      const { run } = await a.hold(heldRun({ approval: { groups: ['leads'], count: 2, breakGlassGroups: ['oncall'], ttlMs: 60_000, holds: [] } }));
      const decided = await Promise.all([a.approve(run.runId, yesFrom('lee', ['leads'])), b.approve(run.runId, yesFrom('olga', ['oncall'], true)), a.approve(run.runId, yesFrom('kim', ['leads']))]);
      expect(decided.filter((r) => r?.state === 'approved')).toHaveLength(1);
      const claims = await Promise.all([a.claim(run.runId), b.claim(run.runId)]);
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
      expect((await a.get(run.runId))?.state).toBe('executing');
    }
  });

  it('claims a run with a change window only inside its stored slot, on the database clock; racing replicas claim it once', async () => {
    const window = { days: ['mon' as const], from: '09:00', to: '17:00', timeZone: 'UTC' };
    const approval = { groups: ['leads'], count: 1, ttlMs: 3_600_000, windows: [window], holds: [] };
    const { run } = await a.hold(heldRun({ approval }));
    await a.approve(run.runId, yes('lee'));
    // Approved, but no slot yet: nobody may start it, however long it has waited.
    await first.query("UPDATE approval_runs SET updated_at = now() - interval '1 hour' WHERE run_id = $1", [run.runId]);
    await expect(a.claim(run.runId)).resolves.toBeUndefined();
    expect((await b.stalledApproved(0)).map((r) => r.runId)).not.toContain(run.runId);
    expect((await b.unscheduled()).map((r) => r.runId)).toContain(run.runId);
    // Its slot opens in an hour: still not startable; the first slot stored stays.
    const now = await a.now();
    const slot = { startsAt: now + 3_600_000, endsAt: now + 7_200_000 };
    const scheduled = await Promise.all([a.schedule(run.runId, slot), b.schedule(run.runId, { startsAt: now, endsAt: now + 60_000 })]);
    expect(new Set(scheduled.map((r) => r?.startsAt)).size).toBe(1);
    await first.query('UPDATE approval_runs SET starts_at = $2, window_ends_at = $3 WHERE run_id = $1', [run.runId, new Date(slot.startsAt).toISOString(), new Date(slot.endsAt).toISOString()]);
    await expect(b.claim(run.runId)).resolves.toBeUndefined();
    expect((await a.stalledApproved(0)).map((r) => r.runId)).not.toContain(run.runId);
    expect((await a.waitingForWindow()).map((r) => r.runId)).toContain(run.runId);
    await expect(a.expireMissedWindows()).resolves.not.toContainEqual(expect.objectContaining({ runId: run.runId }));
    // The clock reaches the slot (moved to it, as an hour passing would): two replicas race, one claims it.
    await first.query("UPDATE approval_runs SET starts_at = now() - interval '1 minute', window_ends_at = now() + interval '1 hour' WHERE run_id = $1", [run.runId]);
    expect((await b.stalledApproved(30_000)).map((r) => r.runId)).toContain(run.runId);
    const claims = await Promise.all([a.claim(run.runId), b.claim(run.runId), a.claim(run.runId)]);
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    await expect(a.get(run.runId)).resolves.toMatchObject({ state: 'executing' });
  });

  it('expires, once and with why, an approved run whose slot closed before anyone started it; it never starts late', async () => {
    const approval = { groups: ['leads'], count: 1, ttlMs: 3_600_000, windows: [{ days: ['mon' as const], from: '09:00', to: '17:00', timeZone: 'UTC' }], holds: [] };
    const { run } = await a.hold(heldRun({ approval }));
    await a.approve(run.runId, yes('lee'));
    const now = await a.now();
    await a.schedule(run.runId, { startsAt: now - 7_200_000, endsAt: now - 3_600_000 });
    await expect(b.claim(run.runId)).resolves.toBeUndefined();
    const expired = await Promise.all([a.expireMissedWindows(), b.expireMissedWindows()]);
    expect(expired.flat().map((r) => r.runId)).toEqual([run.runId]);
    const stored = await a.get(run.runId);
    expect(stored).toMatchObject({ state: 'expired', outcome: { status: 'failed', errorCode: 'FORBIDDEN', error: expect.stringContaining('no policy started it before the window closed') } });
    await expect(a.claim(run.runId)).resolves.toBeUndefined();
  });

  it('counts each approver once, however often and wherever they approve', async () => {
    const { run } = await a.hold(heldRun());
    const decided = await Promise.all([a.approve(run.runId, yes('lee')), b.approve(run.runId, yes('lee')), a.approve(run.runId, yes('lee'))]);
    expect(decided.filter((r) => r !== undefined)).toHaveLength(1);
    const stored = await a.get(run.runId);
    expect(stored).toMatchObject({ state: 'pending', decisions: [{ actor: { user: 'lee' }, verdict: 'approved', comment: 'ok from lee' }] });
  });

  it('a rejection ends the run: no later approval or rejection counts', async () => {
    const { run } = await a.hold(heldRun());
    await a.approve(run.runId, yes('lee'));
    const rejected = await b.reject(run.runId, no('kim'));
    expect(rejected).toMatchObject({ state: 'rejected', decisions: [{ verdict: 'approved' }, { verdict: 'rejected', actor: { user: 'kim' } }] });
    await expect(a.approve(run.runId, yes('max'))).resolves.toBeUndefined();
    await expect(a.reject(run.runId, no('max'))).resolves.toBeUndefined();
    await expect(a.claim(run.runId)).resolves.toBeUndefined();
  });

  it('expires a run past its expiry once however many replicas sweep, and refuses a late approval', async () => {
    const { run } = await a.hold(heldRun());
    const { run: fresh } = await a.hold(heldRun());
    await first.query("UPDATE approval_runs SET expires_at = now() - interval '1 second' WHERE run_id = $1", [run.runId]);
    // The late approval does not count, even before any sweep has run.
    await expect(b.approve(run.runId, yes('lee'))).resolves.toBeUndefined();
    const swept = await Promise.all([a.expireDue(), b.expireDue(), a.expireDue(run.runId)]);
    expect(swept.flat().map((r) => r.runId)).toEqual([run.runId]);
    await expect(a.get(run.runId)).resolves.toMatchObject({ state: 'expired', decisions: [] });
    await expect(a.get(fresh.runId)).resolves.toMatchObject({ state: 'pending' });
    expect((await b.pending()).map((r) => r.runId)).toContain(fresh.runId);
    expect((await b.pending()).map((r) => r.runId)).not.toContain(run.runId);
  });

  it('lists pending runs oldest first', async () => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push((await a.hold(heldRun())).run);
    const listed = (await b.pending()).map((r) => r.runId);
    const positions = runs.map((r) => listed.indexOf(r.runId));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
  });

  it('keeps the outcome of a finished run, and ends one left executing past its timeout as unknown', async () => {
    const { run } = await a.hold(heldRun({ approval: { groups: ['leads'], count: 1, ttlMs: 60_000, holds: [] } }));
    await a.approve(run.runId, yes('lee'));
    await a.claim(run.runId);
    const outcome = { status: 'succeeded' as const, result: { rowCount: 1 } };
    await expect(b.transition(run.runId, { from: ['executing'], to: 'executed', outcome })).resolves.toMatchObject({ state: 'executed', outcome });
    await expect(a.transition(run.runId, { from: ['executing'], to: 'failed' })).resolves.toBeUndefined();

    const { run: stuck } = await a.hold(heldRun({ approval: { groups: ['leads'], count: 1, ttlMs: 60_000, holds: [] } }));
    await a.approve(stuck.runId, yes('lee'));
    await a.claim(stuck.runId);
    await expect(a.abandonStale()).resolves.toEqual([]);
    await first.query("UPDATE approval_runs SET updated_at = now() - interval '71 seconds' WHERE run_id = $1", [stuck.runId]);
    const abandoned = await Promise.all([a.abandonStale(), b.abandonStale()]);
    expect(abandoned.flat().map((r) => [r.runId, r.state, r.outcome?.errorCode])).toEqual([[stuck.runId, 'failed', 'OUTCOME_UNKNOWN']]);
  });
  it("withdraws only its requester's pending run, once, racing an approval: a withdrawn run is never approved or claimed", async () => {
    const run = heldRun({ approval: { groups: ['leads'], count: 1, ttlMs: 3_600_000, holds: [{ by: 'rule', name: 'prod-writes' }] } });
    await a.hold(run);
    await expect(b.withdraw(run.runId, 'mallory')).resolves.toBeUndefined();
    const [withdrawn, approved] = await Promise.all([a.withdraw(run.runId, 'alice'), b.approve(run.runId, yes('lee'))]);
    // Exactly one of them got the pending row.
    expect([withdrawn, approved].filter(Boolean)).toHaveLength(1);
    if (withdrawn) {
      expect(withdrawn.state).toBe('withdrawn');
      await expect(a.approve(run.runId, yes('kim'))).resolves.toBeUndefined();
      await expect(b.claim(run.runId)).resolves.toBeUndefined();
      await expect(a.withdraw(run.runId, 'alice')).resolves.toBeUndefined();
    } else {
      expect(approved?.state).toBe('approved');
      await expect(a.withdraw(run.runId, 'alice')).resolves.toBeUndefined();
    }
  });

  it("pages a requester's held runs and kept task results newest first, by a key no two rows share", async () => {
    const requester = `pager-${randomUUID()}`;
    const results = new TaskResultStore(second);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = heldRun({ requester: { identity: { user: requester, groups: ['eng'] }, meta: {} } });
      await a.hold(run);
      ids.push(run.runId);
      const kept = await results.record({ taskId: randomUUID(), requester, tool: 'demo.pg.read', status: 'completed', result: { content: [], isError: false } });
      ids.push(kept.taskId);
    }
    await results.record({ taskId: randomUUID(), requester: 'someone-else', tool: 'demo.pg.read', status: 'failed', result: { content: [], isError: true } });
    const firstRuns = await b.requestedBy(requester, 2);
    expect(firstRuns.map((r) => r.run.runId)).toEqual([ids[4], ids[2]]);
    const rest = await b.requestedBy(requester, 2, firstRuns[1]?.key);
    expect(rest.map((r) => r.run.runId)).toEqual([ids[0]]);
    const kept = await results.requestedBy(requester, 10);
    expect(kept.map((r) => r.task.taskId)).toEqual([ids[5], ids[3], ids[1]]);
    await expect(results.get(ids[1] as string, 'someone-else')).resolves.toBeUndefined();
    await expect(results.get(ids[1] as string, requester)).resolves.toMatchObject({ status: 'completed', tool: 'demo.pg.read' });
  });
});
