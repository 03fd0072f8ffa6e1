import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, McpError, type Task } from '@modelcontextprotocol/sdk/types.js';
import { createRunbookRepository, createTestDatabase, eventually, type RunbookRepository, type TestDatabase } from '@rungate/testing';
import { SET_NOTE, createNotesTarget, type NotesTarget } from './support/notes';
import { TRANSPORTS, catalogClient, embeddedEnv, newToken, resultText, runCli, startStack, type Stack } from './support/stack';


/**
 * MCP tasks over held runs (issue 16, ADR 18 §8), with the real MCP SDK client's task API
 * against the real gateway and policy, in both ways of running: a task-augmented call of a held
 * tool is the held run as a task (input_required until a human decides), which completes with
 * the run's result once approved and executed, fails when rejected, and is withdrawn by
 * tasks/cancel; only its requester sees it. (An expired run's task is checked in
 * approvals.e2e-spec.ts, whose expiry wait is paid anyway.) Each tasks/* request is a new POST, answered from
 * the database: any replica, any time.
 */
describe.each(TRANSPORTS)('MCP tasks over %s: a held call is a task its requester follows to the run result', (transport) => {
  const alice = newToken();
  const bob = newToken();
  const lee = newToken();
  const kim = newToken();
  const ines = newToken();
  let repo: RunbookRepository;
  let target: NotesTarget;
  let database: TestDatabase | undefined;
  let stack: Stack;
  let client: Client;
  let bobClient: Client;
  /** A pending run of alice's that another user tries to cancel. */
  let pending: Task;

  const note = (id: number) => target.note(id);

  const cli = (token: string, args: string[]) => runCli([...args, '--url', stack.gatewayUrl, '--json'], { env: { ...embeddedEnv(), RUNGATE_TOKEN: token } });

  /** tools/call with `task`, as the SDK sends it: the CreateTaskResult's task. */
  async function createTask(as: Client, name: string, args: Record<string, unknown>): Promise<Task> {
    for await (const message of as.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema, { task: { ttl: 3_600_000 } })) {
      if (message.type === 'taskCreated') return message.task;
      if (message.type === 'error') throw message.error;
    }
    throw new Error('no task was created');
  }
  const taskResult = (as: Client, taskId: string) => as.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
  async function protocolError(promise: Promise<unknown>): Promise<McpError> {
    const error: unknown = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (!(error instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${JSON.stringify(error)}`);
    return error;
  }

  beforeAll(async () => {
    target = await createNotesTarget('rge2e_tasks_target');
    database = transport === 'nats' ? await createTestDatabase('rge2e_tasks') : undefined;
    repo = createRunbookRepository({ 'one/set_note.runbook.sql': SET_NOTE, 'free/set_note.runbook.sql': SET_NOTE });
    stack = await startStack({
      transport,
      env: { NOTES_DB_URL: target.db.url, ...(database ? { DATABASE_URL: database.url } : {}) },
      config: () => `
repositories: [{ name: demo, url: ${repo.dir}, pollInterval: 1s }]
connections: [{ name: notes-db, type: postgres, url: env:NOTES_DB_URL }]
users:
  - { name: alice@example.com, groups: [eng] }
  - { name: bob@example.com, groups: [eng] }
  - { name: lee@example.com, groups: [leads] }
  - { name: kim@example.com, groups: [leads] }
  - { name: ines@example.com, groups: [auditors] }
tokens:
  - { sha256: "${ines.sha256}", user: ines@example.com, agent: audit-cli, scopes: [audit:read] }
  - { sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }
  - { sha256: "${bob.sha256}", user: bob@example.com, agent: claude-code }
  - { sha256: "${lee.sha256}", user: lee@example.com, human: true, agent: cli }
  - { sha256: "${kim.sha256}", user: kim@example.com, human: true, agent: cli }
rules:
  - { name: notes-one, groups: [eng], connections: [notes-db], runbooks: ["demo/one/**"], approval: { groups: [leads] } }
  - { name: notes-free, groups: [eng], connections: [notes-db], runbooks: ["demo/free/**"] }
`,
    });
    client = await catalogClient(stack, alice.token, 3);
    bobClient = await catalogClient(stack, bob.token, 3);
    // listTools caches each tool's taskSupport, as a client does before it calls.
    await client.listTools();
    pending = await createTask(client, 'demo.one.set_note', { id: 20, body: 'left pending' });
  });

  afterAll(async () => {
    await client?.close();
    await bobClient?.close();
    await stack?.stop();
    await target?.db.drop();
    await database?.drop();
  });

  it('declares tasks and lists the tools that may be held with taskSupport optional, no other', async () => {
    expect(client.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const tools = new Map((await client.listTools()).tools.map((t) => [t.name, t]));
    expect(tools.get('demo.one.set_note')?.execution).toEqual({ taskSupport: 'optional' });
    expect(tools.get('demo.free.set_note')?.execution).toBeUndefined();
    expect(tools.get('rungate_run_status')?.execution).toBeUndefined();
  });

  let first: Task;

  it('holds a task-augmented call as a task, input_required until approved, then completed with the run result, executed once', async () => {
    let result: unknown;
    for await (const message of client.experimental.tasks.callToolStream({ name: 'demo.one.set_note', arguments: { id: 1, body: 'first' } }, CallToolResultSchema, { task: {} })) {
      if (message.type === 'taskCreated') {
        first = message.task;
        expect(first).toMatchObject({ status: 'input_required', ttl: null, pollInterval: expect.any(Number) });
        expect(first.statusMessage).toContain(`rungate approve ${first.taskId}`);
        expect(first.statusMessage).toContain('group leads');
        expect(await note(1)).toEqual({ body: 'initial', writes: 0 });
        // The plain follow-up tool sees the same run: the task id is the run id.
        const status = await client.callTool({ name: 'rungate_run_status', arguments: { runId: first.taskId } });
        expect(status.structuredContent).toMatchObject({ runId: first.taskId, state: 'pending' });
        const approved = await cli(lee.token, ['approve', first.taskId]);
        expect(approved.code).toBe(0);
      }
      if (message.type === 'error') throw message.error;
      if (message.type === 'result') result = message.result;
    }
    // The stream polled tasks/get until the run had executed, then took tasks/result.
    expect(result).toMatchObject({ isError: false, structuredContent: { rows: [{ id: 1, body: 'first', writes: 1 }] }, _meta: { 'io.modelcontextprotocol/related-task': { taskId: first.taskId } } });
    expect(resultText(result as { content: { type: string; text?: string }[] })).toContain(`run ${first.taskId}`);
    await expect(client.experimental.tasks.getTask(first.taskId)).resolves.toMatchObject({ taskId: first.taskId, status: 'completed', createdAt: first.createdAt });
    // Another connection (any gateway replica) gets the same result again; the run executed once.
    const again = await catalogClient(stack, alice.token, 3);
    try {
      await expect(taskResult(again, first.taskId)).resolves.toMatchObject({ isError: false, structuredContent: { rows: [{ id: 1, body: 'first', writes: 1 }] } });
    } finally {
      await again.close();
    }
    expect(await note(1)).toEqual({ body: 'first', writes: 1 });
  });

  it('fails the task of a rejected run, with its reason; it never runs', async () => {
    const task = await createTask(client, 'demo.one.set_note', { id: 3, body: 'third' });
    const rejected = await fetch(`${stack.gatewayUrl}/v1/runs/${task.taskId}/reject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${kim.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'not during the freeze' }),
    });
    expect(rejected.status).toBe(200);
    const failed = await client.experimental.tasks.getTask(task.taskId);
    expect(failed).toMatchObject({ status: 'failed', statusMessage: expect.stringContaining('not during the freeze') });
    await expect(taskResult(client, task.taskId)).resolves.toMatchObject({ isError: true, structuredContent: { code: 'FORBIDDEN' } });
    expect(await note(3)).toEqual({ body: 'initial', writes: 0 });
  });

  it('shows a task to its requester only: another user gets what an unknown task gets, and lists only their own', async () => {
    const unknown = await protocolError(bobClient.experimental.tasks.getTask('no-such-task'));
    const others = await protocolError(bobClient.experimental.tasks.getTask(first.taskId));
    expect({ code: others.code, message: others.message.replace(first.taskId, 'ID') }).toEqual({ code: unknown.code, message: unknown.message.replace('no-such-task', 'ID') });
    expect(others.code).toBe(-32602);
    expect((await protocolError(bobClient.experimental.tasks.getTaskResult(first.taskId, CallToolResultSchema))).code).toBe(-32602);
    expect((await protocolError(bobClient.experimental.tasks.cancelTask(pending.taskId))).code).toBe(-32602);
    expect((await bobClient.experimental.tasks.listTasks()).tasks).toEqual([]);
    const mine = (await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);
    expect(mine).toEqual(expect.arrayContaining([first.taskId, pending.taskId]));
    // The refused look is an attempt on the record, naming the run.
    await eventually(async () => {
      const res = await fetch(`${stack.auditApiUrl}/audit/events?runId=${first.taskId}`, { headers: { authorization: `Bearer ${ines.token}` } });
      const page = (await res.json()) as { events: { event: { type: string; actor: { user: string }; outcome?: { errorCode?: string } } }[] };
      if (!page.events.some((e) => e.event.type === 'audit.attempt.denied' && e.event.actor.user === 'bob@example.com')) throw new Error('no attempt recorded yet');
    });
  });

  it('answers a task-augmented call that is not held as a task already ended, and refuses one of a tool never held', async () => {
    // A dry run is never held: it runs at once, and its result is kept for tasks/result.
    const dry = await createTask(client, 'demo.one.set_note', { id: 4, body: 'dry', dryRun: true });
    expect(dry).toMatchObject({ status: 'completed', ttl: null });
    const other = await catalogClient(stack, alice.token, 3);
    try {
      await expect(taskResult(other, dry.taskId)).resolves.toMatchObject({ isError: false, structuredContent: { dryRun: true, rows: [{ id: 4, body: 'dry', writes: 1 }] } });
    } finally {
      await other.close();
    }
    expect(await note(4)).toEqual({ body: 'initial', writes: 0 });
    expect((await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(dry.taskId);
    expect((await protocolError(client.experimental.tasks.cancelTask(dry.taskId))).code).toBe(-32602);
    // No rule or guardrail ever holds demo.free.set_note: its call as a task is the spec's -32601, and nothing ran.
    const refused = await protocolError(createTask(client, 'demo.free.set_note', { id: 5, body: 'as task' }));
    expect(refused.code).toBe(-32601);
    expect(await note(5)).toEqual({ body: 'initial', writes: 0 });
    // Without a task, the same tool runs as ever.
    await expect(client.callTool({ name: 'demo.free.set_note', arguments: { id: 5, body: 'plain' } })).resolves.toMatchObject({ isError: false });
  });

  it('withdraws a pending run on tasks/cancel: cancelled, and it can never execute', async () => {
    const task = await createTask(client, 'demo.one.set_note', { id: 6, body: 'withdrawn' });
    await expect(client.experimental.tasks.cancelTask(task.taskId)).resolves.toMatchObject({ taskId: task.taskId, status: 'cancelled' });
    const late = await cli(lee.token, ['approve', task.taskId]);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('RUN_NOT_PENDING');
    await expect(taskResult(client, task.taskId)).resolves.toMatchObject({ isError: true, structuredContent: { code: 'CANCELLED' } });
    expect((await protocolError(client.experimental.tasks.cancelTask(task.taskId))).code).toBe(-32602);
    await expect(client.callTool({ name: 'rungate_run_status', arguments: { runId: task.taskId } })).resolves.toMatchObject({ structuredContent: { state: 'withdrawn' } });
    expect(await note(6)).toEqual({ body: 'initial', writes: 0 });
  });
});
