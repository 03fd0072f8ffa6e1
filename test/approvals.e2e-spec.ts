import { dirname, join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalRun, RunStatusResult } from '@rungate/contracts';
import { openDatabase, verifyStoredChain } from '@rungate/persistence';
import { RUNGATE_BIN, createRunbookRepository, createTestDatabase, eventually, startProcess, type RunbookRepository, type TestDatabase } from '@rungate/testing';
import { SET_NOTE, createNotesTarget, type NotesTarget } from './support/notes';
import { TRANSPORTS, catalogClient, embeddedEnv, newToken, resultText, restartService, runCli, startStack, type CallResult, type Stack } from './support/stack';

/** gateway.heldCallWait of this suite: long enough for a decision made as the first notification arrives, on a loaded machine. */
const HELD_CALL_WAIT_S = 15;

const CHANGED = `-- @description Set a note, changed after the request
UPDATE notes SET body = 'changed: {{ .body }}', writes = writes + 100 WHERE id = {{ .id | type "number" }} RETURNING id, body, writes;
`;

/**
 * Issue 16's "must show", end to end: the real MCP SDK client calls a held tool through the real
 * gateway, humans decide with `rungate approve` / `rungate reject` / `rungate runs --pending`
 * (the CLI over the gateway's /v1/runs) and over /v1/runs itself, and the run executes once
 * with the approved body — in both ways of running: every service over NATS with PostgreSQL,
 * and `rungate serve` with its embedded PGlite.
 */
describe.each(TRANSPORTS)('approvals over %s: MCP client → held run → human approvers → executed once', (transport) => {
  const alice = newToken();
  const aliceHuman = newToken();
  const lee = newToken();
  const leeAgent = newToken();
  const kim = newToken();
  const ines = newToken();
  let repo: RunbookRepository;
  let target: NotesTarget;
  let database: TestDatabase | undefined;
  let stack: Stack;
  let client: Client;

  const note = (id: number) => target.note(id);

  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallResult;
  async function hold(tool: string, id: number, body: string): Promise<string> {
    const result = await call(tool, { id, body });
    expect(result.isError).toBe(false);
    expect(result.structuredContent).toMatchObject({ status: 'approval_required', runId: expect.any(String), approvers: { groups: ['leads'] } });
    return result.structuredContent?.['runId'] as string;
  }
  const status = async (runId: string) => (await call('rungate_run_status', { runId })).structuredContent as RunStatusResult;

  const cli = (token: string, args: string[]) => runCli([...args, '--url', stack.gatewayUrl, '--json'], { env: { ...embeddedEnv(), RUNGATE_TOKEN: token } });
  async function api(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${stack.gatewayUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const ended = (runId: string) =>
    eventually(async () => {
      const found = await status(runId);
      if (found.state === 'approved' || found.state === 'executing') throw new Error(`run ${runId} is ${found.state}`);
      return found;
    }, 30_000);

  beforeAll(async () => {
    target = await createNotesTarget('rge2e_appr_target');
    // Over NATS policy keeps held runs (and the audit service its trail) in PostgreSQL; serve in its own PGlite.
    database = transport === 'nats' ? await createTestDatabase('rge2e_appr') : undefined;
    repo = createRunbookRepository({ 'one/set_note.runbook.sql': SET_NOTE, 'pair/set_note.runbook.sql': SET_NOTE, 'brief/set_note.runbook.sql': SET_NOTE });
    stack = await startStack({
      transport,
      env: { NOTES_DB_URL: target.db.url, ...(database ? { DATABASE_URL: database.url } : {}) },
      config: () => `
repositories: [{ name: demo, url: ${repo.dir}, pollInterval: 1s }]
connections: [{ name: notes-db, type: postgres, url: env:NOTES_DB_URL }]
users:
  - { name: alice@example.com, groups: [eng] }
  - { name: lee@example.com, groups: [leads] }
  - { name: kim@example.com, groups: [leads] }
  - { name: ines@example.com, groups: [auditors] }
tokens:
  - { sha256: "${ines.sha256}", user: ines@example.com, agent: audit-cli, scopes: [audit:read] }
  - { sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }
  - { sha256: "${aliceHuman.sha256}", user: alice@example.com, human: true }
  - { sha256: "${lee.sha256}", user: lee@example.com, human: true, agent: cli }
  - { sha256: "${leeAgent.sha256}", user: lee@example.com, agent: lees-agent }
  - { sha256: "${kim.sha256}", user: kim@example.com, human: true, agent: cli }
rules:
  - { name: notes-one, groups: [eng], connections: [notes-db], runbooks: ["demo/one/**"], approval: { groups: [leads] } }
  - { name: notes-pair, groups: [eng], connections: [notes-db], runbooks: ["demo/pair/**"], approval: { groups: [leads], count: 2 } }
  - { name: notes-brief, groups: [eng], connections: [notes-db], runbooks: ["demo/brief/**"], approval: { groups: [leads], ttl: 1m } }
`,
      // A call asking for progress stays open this long for its decision; every other call (no progressToken) is answered at once.
      gateway: { heldCallWait: `${HELD_CALL_WAIT_S}s` },
    });
    client = await catalogClient(stack, alice.token, 3);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.db.drop();
    await database?.drop();
  });

  let brief: string;
  let first: string;

  it('holds the call: approval_required with the approvers and how to approve, nothing ran, and the requester follows it', async () => {
    // Held first: its one-minute ttl runs out while the rest of the suite runs (see the expiry test).
    brief = await hold('demo.brief.set_note', 20, 'too late');
    const result = await call('demo.one.set_note', { id: 1, body: 'first' });
    expect(result).toMatchObject({ isError: false, structuredContent: { status: 'approval_required', approvers: { groups: ['leads'], count: 1 }, expiresAt: expect.any(String) } });
    const runId = result.structuredContent?.['runId'] as string;
    first = runId;
    expect(resultText(result)).toContain(`rungate approve ${runId}`);
    expect(resultText(result)).toContain('group leads');
    expect(await note(1)).toEqual({ body: 'initial', writes: 0 });
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('rungate_run_status');
    await expect(status(runId)).resolves.toMatchObject({ runId, state: 'pending', decisions: [] });

    // The approver's queue shows exactly what will run.
    const pending = await cli(lee.token, ['runs', '--pending']);
    expect(pending.code).toBe(0);
    const listed = pending.stdout.trim().split('\n').map((line) => JSON.parse(line) as ApprovalRun);
    expect(listed.find((r) => r.runId === runId)).toMatchObject({
      state: 'pending',
      body: "-- @description Set a note\nUPDATE notes SET body = 'first', writes = writes + 1 WHERE id = 1 RETURNING id, body, writes;\n",
      requester: { user: 'alice@example.com', agent: 'claude-code' },
    });

    const approved = await cli(lee.token, ['approve', runId, '--comment', 'one row, fine']);
    expect(approved.code).toBe(0);
    expect((JSON.parse(approved.stdout) as ApprovalRun).decisions).toMatchObject([{ actor: { user: 'lee@example.com' }, verdict: 'approved', comment: 'one row, fine' }]);
    await expect(ended(runId)).resolves.toMatchObject({ state: 'executed', result: { rows: [{ id: 1, body: 'first', writes: 1 }] } });
    expect(await note(1)).toEqual({ body: 'first', writes: 1 });
  });

  it('refuses self-approval, an agent token and a second decision of the same approver', async () => {
    const runId = await hold('demo.pair.set_note', 2, 'second');
    const self = await cli(aliceHuman.token, ['approve', runId]);
    expect(self.code).not.toBe(0);
    expect(self.stderr).toContain('SELF_APPROVAL');
    const agent = await api(leeAgent.token, 'POST', `/v1/runs/${runId}/approve`, {});
    expect(agent).toMatchObject({ status: 403, body: { error: { code: 'AGENT_CANNOT_APPROVE' } } });
    expect((await api(lee.token, 'POST', `/v1/runs/${runId}/approve`, {})).status).toBe(200);
    expect(await api(lee.token, 'POST', `/v1/runs/${runId}/approve`, {})).toMatchObject({ status: 409, body: { error: { code: 'RUN_NOT_PENDING' } } });
    await expect(status(runId)).resolves.toMatchObject({ state: 'pending', decisions: [{ verdict: 'approved' }] });
    // Quorum of 2: the second human's approval runs it.
    const second = await api(kim.token, 'POST', `/v1/runs/${runId}/approve`, { comment: 'second pair of eyes' });
    expect(second.status).toBe(200);
    await expect(ended(runId)).resolves.toMatchObject({ state: 'executed', decisions: [{ verdict: 'approved' }, { verdict: 'approved' }] });
    expect(await note(2)).toEqual({ body: 'second', writes: 1 });
  });

  it('ends a run on a rejection with its reason; it never runs', async () => {
    const runId = await hold('demo.one.set_note', 3, 'third');
    const rejected = await cli(kim.token, ['reject', runId, '--reason', 'not during the freeze']);
    expect(rejected.code).toBe(0);
    const late = await cli(lee.token, ['approve', runId]);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('RUN_NOT_PENDING');
    await expect(status(runId)).resolves.toMatchObject({ state: 'rejected', decisions: [{ verdict: 'rejected' }] });
    expect(await note(3)).toEqual({ body: 'initial', writes: 0 });
  });

  it('gives one execution when two approvers approve a one-approval run at the same moment', async () => {
    const runId = await hold('demo.one.set_note', 4, 'raced');
    const results = await Promise.all([cli(lee.token, ['approve', runId]), cli(kim.token, ['approve', runId])]);
    expect(results.map((r) => r.code === 0).sort()).toEqual([false, true]);
    expect(results.find((r) => r.code !== 0)?.stderr).toContain('RUN_NOT_PENDING');
    await expect(ended(runId)).resolves.toMatchObject({ state: 'executed' });
    expect(await note(4)).toEqual({ body: 'raced', writes: 1 });
  });

  /** A held call whose client asks for progress (the SDK's onprogress sets _meta.progressToken); `decide` runs on each notification. */
  async function waitedCall(tool: string, args: Record<string, unknown>, decide: (runId: string, update: Progress) => void, signal?: AbortSignal) {
    const updates: Progress[] = [];
    const result = (await client.callTool({ name: tool, arguments: args }, undefined, {
      ...(signal ? { signal } : {}),
      onprogress: (update) => {
        updates.push(update);
        const runId = /run (\S+) waits for approval/.exec(update.message ?? '')?.[1];
        if (runId) decide(runId, update);
      },
    })) as CallResult;
    return { result, updates };
  }
  const increasing = (updates: Progress[]) => updates.every((u, i) => i === 0 || u.progress > (updates[i - 1] as Progress).progress);

  it('keeps a held call open while its client asks for progress: approved meanwhile by two humans, the same call answers the run it ran once', async () => {
    const decisions: Promise<{ status: number }>[] = [];
    const { result, updates } = await waitedCall('demo.pair.set_note', { id: 6, body: 'waited' }, (runId, update) => {
      // One approver per notification: lee on the first (0 of 2), kim once one approval shows (1 of 2).
      if (update.progress === 0 && decisions.length === 0) decisions.push(api(lee.token, 'POST', `/v1/runs/${runId}/approve`, {}));
      if (update.progress === 1 && decisions.length === 1) decisions.push(api(kim.token, 'POST', `/v1/runs/${runId}/approve`, { comment: 'while it waits' }));
    });
    expect((await Promise.all(decisions)).map((d) => d.status)).toEqual([200, 200]);
    expect(result).toMatchObject({ isError: false, structuredContent: { kind: 'sql', rows: [{ id: 6, body: 'waited', writes: 1 }] } });
    expect(resultText(result)).toContain('1 row(s)');
    expect(updates[0]).toMatchObject({ progress: 0, total: 2, message: expect.stringContaining('needs 2 approvals from group leads') });
    expect(updates.map((u) => Math.floor(u.progress))).toEqual(expect.arrayContaining([0, 1]));
    expect(increasing(updates)).toBe(true);
    expect(await note(6)).toEqual({ body: 'waited', writes: 1 });
  });

  it('answers a waited-on call rejected meanwhile RUN_NOT_APPROVED, with the reason; nothing ran', async () => {
    let rejecting: Promise<{ status: number }> | undefined;
    const { result } = await waitedCall('demo.one.set_note', { id: 7, body: 'refused' }, (runId) => {
      rejecting ??= api(kim.token, 'POST', `/v1/runs/${runId}/reject`, { reason: 'not during the freeze' });
    });
    await expect(rejecting).resolves.toMatchObject({ status: 200 });
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'RUN_NOT_APPROVED', message: expect.stringContaining('rejected: not during the freeze; nothing was executed') } });
    expect(await note(7)).toEqual({ body: 'initial', writes: 0 });
  });

  it('stops waiting when the client cancels the call, and leaves its run pending', async () => {
    const abort = new AbortController();
    let held: string | undefined;
    const cancelled = waitedCall('demo.one.set_note', { id: 8, body: 'later' }, (runId) => {
      held = runId;
      abort.abort('the user pressed escape');
    }, abort.signal);
    await expect(cancelled).rejects.toThrow();
    await expect(status(held as string)).resolves.toMatchObject({ state: 'pending', decisions: [] });
    // Still decidable: approved later, it runs, and rungate_run_status has its result.
    expect((await api(lee.token, 'POST', `/v1/runs/${held as string}/approve`, {})).status).toBe(200);
    await expect(ended(held as string)).resolves.toMatchObject({ state: 'executed', result: { rows: [{ id: 8, body: 'later', writes: 1 }] } });
  });

  it('answers approval_required, the run pending, once the wait is over without a decision', async () => {
    const { result, updates } = await waitedCall('demo.pair.set_note', { id: 9, body: 'undecided' }, () => undefined);
    expect(result).toMatchObject({ isError: false, structuredContent: { status: 'approval_required', approvers: { groups: ['leads'], count: 2 } } });
    expect(result.structuredContent?.['state']).toBeUndefined();
    expect(updates[0]).toMatchObject({ progress: 0, total: 2 });
    expect(increasing(updates)).toBe(true);
    await expect(status(result.structuredContent?.['runId'] as string)).resolves.toMatchObject({ state: 'pending' });
    expect(await note(9)).toEqual({ body: 'initial', writes: 0 });
  });

  it('runs the approved body after the runbook changed, and keeps a pending run across a restart', async () => {
    const runId = await hold('demo.one.set_note', 5, 'as approved');
    repo.commit({ 'one/set_note.runbook.sql': CHANGED }, 'change the runbook after the request');
    await eventually(async () => {
      const tool = (await client.listTools()).tools.find((t) => t.name === 'demo.one.set_note');
      if (!tool?.description?.includes('changed after the request')) throw new Error('catalog not updated yet');
    }, 30_000);
    // Policy (or all of serve) stops and starts again: the held run is in the database.
    if (transport === 'nats') await restartService(stack, 'policy');
    else await restartServe(stack);
    await client.close();
    client = await catalogClient(stack, alice.token, 3);
    await expect(status(runId)).resolves.toMatchObject({ state: 'pending' });
    const approved = await eventually(() => cli(lee.token, ['approve', runId]).then((r) => (r.code === 0 ? r : Promise.reject(new Error(r.stderr)))), 30_000);
    expect((JSON.parse(approved.stdout) as ApprovalRun).body).toBe("-- @description Set a note\nUPDATE notes SET body = 'as approved', writes = writes + 1 WHERE id = 5 RETURNING id, body, writes;\n");
    await expect(ended(runId)).resolves.toMatchObject({ state: 'executed', result: { rows: [{ id: 5, body: 'as approved', writes: 1 }] } });
    expect(await note(5)).toEqual({ body: 'as approved', writes: 1 });
  });

  it('expires a run past its ttl: a late approval is refused and it never runs', async () => {
    await eventually(
      async () => {
        const found = await status(brief);
        if (found.state !== 'expired') throw new Error(`run ${brief} is ${found.state}`);
      },
      // The ttl is a minute from the first test; the sweep runs every 30 s.
      100_000,
      1000,
    );
    const late = await cli(lee.token, ['approve', brief]);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('RUN_NOT_PENDING');
    // Every held run is its requester's MCP task (ADR 18 §8), a plain call's too: an expired one failed.
    await expect(client.experimental.tasks.getTask(brief)).resolves.toMatchObject({ taskId: brief, status: 'failed', statusMessage: expect.stringContaining('expired') });
    await expect(client.experimental.tasks.getTaskResult(brief, CallToolResultSchema)).resolves.toMatchObject({ isError: true, structuredContent: { code: 'TIMEOUT' } });
    expect(await note(20)).toEqual({ body: 'initial', writes: 0 });
  }, 150_000);

  it('keeps the audit chain intact, with every state change of a held run on it', async () => {
    const types = await eventually(async () => {
      const res = await fetch(`${stack.auditApiUrl}/audit/events?runId=${first}`, { headers: { authorization: `Bearer ${ines.token}` } });
      const page = (await res.json()) as { events: { event: { type: string; decision?: { effect: string } } }[] };
      const seen = page.events.map((e) => (e.event.type === 'audit.run.decided' ? `decided:${e.event.decision?.effect}` : e.event.type));
      if (!seen.includes('audit.run.completed')) throw new Error(`saw ${seen.join(', ')}`);
      return seen;
    });
    expect(types).toEqual(['decided:approval_required', 'audit.run.approved', 'audit.run.started', 'audit.run.completed']);
    if (transport === 'nats' && database) {
      const db = await openDatabase(database.url);
      try {
        await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
      } finally {
        await db.destroy();
      }
    } else {
      await stack.stop();
      const verify = startProcess('verify', process.execPath, [RUNGATE_BIN, 'audit', 'verify', '--data-dir', join(dirname(stack.configFile), 'data')], embeddedEnv());
      const code = await new Promise<number | null>((resolve) => verify.child.on('exit', resolve));
      expect({ code, output: verify.output() }).toMatchObject({ code: 0, output: expect.stringMatching(/^intact: \d+ events/) });
    }
  });
});

/** Stops `rungate serve` and starts it again on the same configuration and data directory. */
async function restartServe(stack: Stack): Promise<void> {
  const index = stack.processes.findIndex((p) => p.name === 'serve');
  const old = stack.processes[index];
  if (!old) throw new Error('no serve process');
  await old.stop();
  const replacement = startProcess('serve', process.execPath, [RUNGATE_BIN, 'serve', '--config', stack.configFile, '--data-dir', join(dirname(stack.configFile), 'data')], stack.env);
  stack.processes[index] = replacement;
  await eventually(async () => {
    if (replacement.child.exitCode !== null) throw new Error(`serve exited: ${replacement.output()}`);
    const res = await fetch(`${stack.gatewayUrl}/readyz`);
    if (res.status !== 200) throw new Error('not ready');
  }, 60_000);
}
