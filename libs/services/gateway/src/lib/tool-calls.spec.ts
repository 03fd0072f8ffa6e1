import type { MessageHandler } from '@nestjs/microservices';
import { RungateConfig } from '@rungate/config';
import { AuthorizeReply, Subjects, execCancelSubject, execSubject, type AuditEvent, type AuditEventInput, type Reply } from '@rungate/contracts';
import { InProcessBroker, InProcessBus, completeAuditEvent, type AuditSink } from '@rungate/messaging';
import { AttemptAudit, ConfigHolder, Metrics, type ServiceContext } from '@rungate/runtime';
import { EdgeAttempts } from './edge-attempts';
import { Authenticator } from './identity.guard';
import { CallCancelled, ToolCalls, type Decided } from './tool-calls';

class RecordingSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  private waiting: (() => void)[] = [];

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    this.events.push(event);
    for (const wake of this.waiting.splice(0)) wake();
    return event;
  }

  /** Resolves at the next event published. */
  next(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

function handler(fn: (payload: unknown) => unknown, isEventHandler = false): MessageHandler {
  const h = (async (payload: unknown) => fn(payload)) as unknown as MessageHandler;
  h.isEventHandler = isEventHandler;
  return h;
}

const identity = { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', scope: {} };
const allow = (runId: string) => ({ effect: 'allow', runId, connection: { name: 'app-db', type: 'postgres' }, ticket: 't', body: 'SELECT 1', timeoutMs: 30_000 });
const EXEC = execSubject('postgres');
const STOP = execCancelSubject('postgres');

/**
 * One call through the gateway's path against policy and executor handlers on the in-process
 * bus (the all-in-one transport), so the stop requests it sends are the ones executors hear.
 */
describe('a tools/call that is cancelled or runs out of gateway.callTimeout', () => {
  let broker: InProcessBroker;
  let sink: RecordingSink;
  let stops: unknown[];

  function toolCalls(callTimeout: number, heldCallWait = 0): ToolCalls {
    const config = new ConfigHolder(RungateConfig.parse({ repositories: [{ name: 'demo', url: '/tmp/runbooks' }], gateway: { callTimeout, heldCallWait } }));
    const attempts = new EdgeAttempts(new AttemptAudit({ service: 'gateway' } as ServiceContext, config, sink));
    const bus = new InProcessBus(broker);
    return new ToolCalls(bus, sink, config, attempts, new Authenticator(bus));
  }

  /** An executor that runs until it is told to stop, then reports how the run ended; resolves once the run reached it. */
  function stoppableExecutor(report: (stop: { reason: string }) => Reply<unknown>): Promise<void> {
    let end: (reply: Reply<unknown>) => void = () => undefined;
    let reached: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (reached = resolve));
    broker.register(
      EXEC,
      handler(
        () =>
          new Promise((resolve) => {
            end = resolve;
            reached();
          }),
      ),
    );
    broker.register(
      STOP,
      handler((stop) => {
        stops.push(stop);
        end(report(stop as { reason: string }));
        return { ok: true, value: null };
      }, true),
    );
    return running;
  }

  beforeEach(() => {
    broker = new InProcessBroker();
    sink = new RecordingSink();
    stops = [];
  });

  it('tells the executor to stop a cancelled run and answers nothing (CallCancelled)', async () => {
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: allow('run-c') })));
    const running = stoppableExecutor(() => ({ ok: false, error: { code: 'CANCELLED', message: 'run run-c was cancelled by its caller' } }));
    const cancel = new AbortController();
    const calling = toolCalls(60_000).call(identity, {}, 'demo.pg.slow', {}, undefined, cancel.signal);
    await running;
    cancel.abort();
    await expect(calling).rejects.toBeInstanceOf(CallCancelled);
    expect(stops).toEqual([{ runId: 'run-c', reason: 'cancelled' }]);
  });

  it('stops the run when the call runs out of time and answers a TIMEOUT result with the executor\'s report', async () => {
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: allow('run-t') })));
    stoppableExecutor(() => ({ ok: false, error: { code: 'TIMEOUT', message: "run run-t was stopped because its call exceeded the gateway's time limit of 50 ms (gateway.callTimeout)" } }));
    const result = await toolCalls(50).call(identity, {}, 'demo.pg.slow', {}, undefined, new AbortController().signal);
    expect(stops).toEqual([{ runId: 'run-t', reason: 'call_timeout', callTimeoutMs: 50 }]);
    const message = "run run-t was stopped because its call exceeded the gateway's time limit of 50 ms (gateway.callTimeout)";
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text: `TIMEOUT: ${message}` }], structuredContent: { code: 'TIMEOUT', message } });
  });

  it('answers TIMEOUT when authorization outlives the call, and records the run policy then allows as timed out, never sent', async () => {
    let decide: () => void = () => undefined;
    broker.register(Subjects.policyAuthorize, handler(() => new Promise((resolve) => (decide = () => resolve({ ok: true, value: allow('run-late') })))));
    let executed = false;
    broker.register(EXEC, handler(() => (executed = true)));
    const result = await toolCalls(30).call(identity, {}, 'demo.pg.slow', {}, undefined, new AbortController().signal);
    expect(result).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^TIMEOUT: the call exceeded the gateway's time limit of 30 ms \(gateway.callTimeout\) before it reached an executor; nothing was executed$/) }] });
    const recorded = sink.next();
    decide();
    await recorded;
    expect(sink.events).toEqual([
      expect.objectContaining({ type: 'audit.run.failed', source: 'gateway', runId: 'run-late', outcome: expect.objectContaining({ status: 'timed_out', errorCode: 'TIMEOUT' }) }),
    ]);
    expect(executed).toBe(false);
  });

  it('does not ask policy for a call cancelled before it began', async () => {
    let asked = false;
    broker.register(Subjects.policyAuthorize, handler(() => (asked = true)));
    const cancel = new AbortController();
    cancel.abort();
    await expect(toolCalls(60_000).call(identity, {}, 'demo.pg.get', {}, undefined, cancel.signal)).rejects.toBeInstanceOf(CallCancelled);
    expect(asked).toBe(false);
  });

  it('does not stop a run that finished: a late cancellation changes nothing', async () => {
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: allow('run-ok') })));
    const output = { kind: 'sql', columns: [], rows: [], rowCount: 0, statements: [{ command: 'SELECT', rowCount: 1 }], truncated: false };
    broker.register(EXEC, handler(() => ({ ok: true, value: { runId: 'run-ok', status: 'succeeded', durationMs: 1, dryRun: false, output } })));
    broker.register(STOP, handler((stop) => stops.push(stop), true));
    const cancel = new AbortController();
    const result = await toolCalls(60_000).call(identity, {}, 'demo.pg.get', {}, undefined, cancel.signal);
    cancel.abort();
    expect(result.isError).toBe(false);
    expect(stops).toEqual([]);
  });

  it('answers a held call as approval_required, isError false, and sends nothing to an executor', async () => {
    const held = { effect: 'approval_required', runId: 'run-h', approvers: { groups: ['sre-leads'], count: 2 }, expiresAt: '2026-12-07T13:00:00.000Z', state: 'pending' };
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: held })));
    let executed = false;
    broker.register(EXEC, handler(() => (executed = true)));
    const result = await toolCalls(60_000).call(identity, {}, 'demo.pg.write', {}, undefined, new AbortController().signal);
    expect(result).toMatchObject({
      isError: false,
      structuredContent: { status: 'approval_required', runId: 'run-h', approvers: { groups: ['sre-leads'], count: 2 }, expiresAt: '2026-12-07T13:00:00.000Z' },
    });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toContain('needs 2 approvals from group sre-leads');
    expect(text).toContain('rungate approve run-h');
    expect(text).toContain('rungate_run_status');
    expect(executed).toBe(false);
    expect(sink.events).toEqual([]);
  });

  it('keeps a held call open only when its client asked for progress, and answers the run once policy shows it executed', async () => {
    const held = { effect: 'approval_required', runId: 'run-w', approvers: { groups: ['sre-leads'], count: 1 }, expiresAt: '2026-12-07T13:00:00.000Z', state: 'pending' };
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: held })));
    const reads: unknown[] = [];
    const report = { runId: 'run-w', durationMs: 2, dryRun: false, kind: 'process', exitCode: 0, stdout: 'done\n', stderr: '', truncated: false };
    const view = { tool: 'demo.pg.write', rule: 'r', runbook: { repository: 'demo', path: 'p', commit: 'c', sha256: 's' }, connection: { name: 'app-db', type: 'postgres' }, body: 'b', bodySha256: 'h', params: {} };
    const runAt = (n: number) =>
      n < 2
        ? { runId: 'run-w', state: 'pending', decisions: [] }
        : { runId: 'run-w', state: 'executed', decisions: [{ actor: { user: 'lee' }, verdict: 'approved', at: 'x' }], outcome: { status: 'succeeded', result: report } };
    broker.register(
      Subjects.policyApprovals,
      handler((request) => {
        reads.push(request);
        const shown = runAt(reads.length);
        return { ok: true, value: { runs: [{ ...view, ...shown, requester: { user: identity.user }, approval: { groups: ['sre-leads'], count: 1, approved: 0 }, holds: [], createdAt: 'x', expiresAt: held.expiresAt }] } };
      }),
    );
    // Without a progress token: approval_required at once, whatever the wait says; policy is not asked again.
    const atOnce = await toolCalls(60_000, 30_000).call(identity, {}, 'demo.pg.write', {}, undefined, new AbortController().signal);
    expect(atOnce.structuredContent).toMatchObject({ status: 'approval_required', runId: 'run-w' });
    expect(reads).toEqual([]);
    const updates: { progress: number; total: number }[] = [];
    const waited = await toolCalls(60_000, 30_000).call(identity, {}, 'demo.pg.write', {}, undefined, new AbortController().signal, undefined, false, async (update) => {
      updates.push(update);
    });
    expect(waited).toMatchObject({ isError: false, structuredContent: { runId: 'run-w', kind: 'process', exitCode: 0, stdout: 'done\n' } });
    expect((waited.content[0] as { text: string }).text).toContain('demo.pg.write — run run-w: exit code 0');
    expect(reads).toEqual([expect.objectContaining({ action: 'get', runId: 'run-w', identity }), expect.objectContaining({ action: 'get' })]);
    expect(updates[0]).toMatchObject({ progress: 0, total: 1 });
    // The run's result is on the record already (the executor's); the waiting call adds no event.
    expect(sink.events).toEqual([]);
  });

  it('stops waiting on a held call its client cancels, and answers nothing', async () => {
    const held = { effect: 'approval_required', runId: 'run-c', approvers: { groups: ['sre-leads'], count: 1 }, expiresAt: '2026-12-07T13:00:00.000Z', state: 'pending' };
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: held })));
    const cancel = new AbortController();
    const calling = toolCalls(60_000, 30_000).call(identity, {}, 'demo.pg.write', {}, undefined, cancel.signal, undefined, false, async () => {
      cancel.abort();
    });
    await expect(calling).rejects.toBeInstanceOf(CallCancelled);
  });

  it('names allGroups and the break-glass groups of a held call, in its result and its text', async () => {
    const approvers = { groups: ['sre-leads', 'dba'], count: 2, allGroups: true, breakGlassGroups: ['oncall'] };
    const held = { effect: 'approval_required', runId: 'run-g', approvers, expiresAt: '2026-12-07T13:00:00.000Z', state: 'pending' };
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: true, value: held })));
    const result = await toolCalls(60_000).call(identity, {}, 'demo.pg.write', {}, undefined, new AbortController().signal);
    expect(result.structuredContent).toEqual({ status: 'approval_required', runId: 'run-g', approvers, expiresAt: '2026-12-07T13:00:00.000Z' });
    expect((result.content[0] as { text: string }).text).toContain('needs 2 approvals from groups sre-leads, dba (at least one from each), or one approval alone from break-glass group oncall');
  });
});

/** Which attempts the gateway records itself: only those policy did not answer with a record of its own. */
describe('the attempts a tools/call records at the gateway', () => {
  let broker: InProcessBroker;
  let sink: RecordingSink;
  const meta = { ip: '10.0.0.7', userAgent: 'probe/1' };

  function toolCalls(): ToolCalls {
    const config = new ConfigHolder(RungateConfig.parse({ repositories: [{ name: 'demo', url: '/tmp/runbooks' }] }));
    const bus = new InProcessBus(broker);
    return new ToolCalls(bus, sink, config, new EdgeAttempts(new AttemptAudit({ service: 'gateway' } as ServiceContext, config, sink)), new Authenticator(bus));
  }
  const call = (tool = 'demo.pg.get') => toolCalls().call(identity, meta, tool, {}, undefined, new AbortController().signal);

  beforeEach(() => {
    broker = new InProcessBroker();
    sink = new RecordingSink();
  });

  it('records nothing more when policy answered a refusal it recorded', async () => {
    const refusals = [
      { code: 'FORBIDDEN', message: 'no rule allows it', details: { attemptRecorded: true } },
      { code: 'UNKNOWN_TOOL', message: 'unknown tool demo.pg.missing', details: { attemptRecorded: true } },
    ];
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: false, error: refusals.shift() })));
    expect(await call()).toEqual({ isError: true, content: [{ type: 'text', text: 'FORBIDDEN: no rule allows it' }], structuredContent: { code: 'FORBIDDEN', message: 'no rule allows it' } });
    await expect(call('demo.pg.missing')).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
    expect(sink.events).toEqual([]);
  });

  it('records a call policy could not be asked about, with the actor and the tool', async () => {
    const result = await call();
    expect(result.content[0]).toMatchObject({ text: expect.stringMatching(/^SERVICE_UNAVAILABLE: /) });
    expect(sink.events).toEqual([
      expect.objectContaining({
        type: 'audit.attempt.denied',
        source: 'gateway',
        tool: 'demo.pg.get',
        actor: { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', ...meta },
        outcome: expect.objectContaining({ status: 'denied', errorCode: 'policy-unavailable' }),
        details: { answered: 'SERVICE_UNAVAILABLE' },
      }),
    ]);
  });

  it('counts each call under the code of its error, taken from the error itself', async () => {
    const count = async (outcome: string) => (await Metrics.toolCalls.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    const before = { forbidden: await count('forbidden'), unknown: await count('unknown_tool'), invalid: await count('invalid_params') };
    const refusals = [
      { code: 'FORBIDDEN', message: 'INVALID_PARAMS: a message that reads like another code', details: { attemptRecorded: true } },
      { code: 'UNKNOWN_TOOL', message: 'unknown tool demo.pg.missing', details: { attemptRecorded: true } },
    ];
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: false, error: refusals.shift() })));
    await call();
    await expect(call('demo.pg.missing')).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
    expect({ forbidden: await count('forbidden'), unknown: await count('unknown_tool'), invalid: await count('invalid_params') }).toEqual({
      forbidden: before.forbidden + 1,
      unknown: before.unknown + 1,
      invalid: before.invalid,
    });
  });

  it('records a refusal policy did not mark as recorded (an error of its own, a request it could not read)', async () => {
    broker.register(Subjects.policyAuthorize, handler(() => ({ ok: false, error: { code: 'BAD_REQUEST', message: 'malformed request: idempotencyKey: Too big' } })));
    // A request policy could not read is one MCP calls invalid (ERROR_EDGES): a JSON-RPC error, not a result.
    await expect(call()).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(sink.events.map((e) => [e.outcome?.errorCode, e.details?.['answered']])).toEqual([['malformed-request', 'BAD_REQUEST']]);
  });

  it('answers a tool name longer than any tool can have as unknown, without asking policy, and records it', async () => {
    let asked = false;
    broker.register(Subjects.policyAuthorize, handler(() => (asked = true)));
    const name = `demo.${'a'.repeat(600)}`;
    await expect(call(name)).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
    expect(asked).toBe(false);
    expect(sink.events).toEqual([expect.objectContaining({ type: 'audit.attempt.denied', tool: `${name.slice(0, 256)}…`, outcome: expect.objectContaining({ errorCode: 'unknown-tool' }) })]);
  });

});

/** A tools/call authenticated and authorized in one request to policy (authorize.v2, ADR 24). */
describe('a tools/call authorized with its bearer token in one round trip', () => {
  let broker: InProcessBroker;
  let sink: RecordingSink;
  const meta = { ip: '10.0.0.8', userAgent: 'agent/1' };
  const request = { tool: 'demo.pg.get', args: { id: 1 }, idempotencyKey: undefined, task: false };
  const output = { kind: 'sql', columns: [], rows: [], rowCount: 0, statements: [{ command: 'SELECT', rowCount: 1 }], truncated: false };

  function toolCalls(callTimeout = 60_000): ToolCalls {
    const config = new ConfigHolder(RungateConfig.parse({ repositories: [{ name: 'demo', url: '/tmp/runbooks' }], gateway: { callTimeout } }));
    const bus = new InProcessBus(broker);
    return new ToolCalls(bus, sink, config, new EdgeAttempts(new AttemptAudit({ service: 'gateway' } as ServiceContext, config, sink)), new Authenticator(bus));
  }
  /** Counts what the gateway asks policy, by subject. */
  const asked: string[] = [];
  const policyAnswers = (subject: string, value: () => unknown) => broker.register(subject, handler(() => (asked.push(subject), value())));

  beforeEach(() => {
    broker = new InProcessBroker();
    sink = new RecordingSink();
    asked.length = 0;
  });

  it('asks authorize.v2 once and runs the call on its decision, never asking authenticate or authorize.v1', async () => {
    policyAnswers(Subjects.policyAuthorizeBearer, () => ({ ok: true, value: { identity, decision: allow('run-v2') } }));
    policyAnswers(Subjects.policyAuthenticate, () => ({ ok: true, value: { identity, expiresAt: 0 } }));
    policyAnswers(Subjects.policyAuthorize, () => ({ ok: true, value: allow('run-v1') }));
    broker.register(EXEC, handler(() => ({ ok: true, value: { runId: 'run-v2', status: 'succeeded', durationMs: 1, dryRun: false, output } })));
    const calls = toolCalls();
    const { identity: who, answer } = await calls.authorizeBearer('rg_token', meta, request);
    expect(who).toEqual(identity);
    const result = await calls.call(who, meta, request.tool, request.args, undefined, new AbortController().signal, undefined, false, undefined, { startedAt: performance.now(), decided: answer });
    expect(result.isError).toBe(false);
    expect(asked).toEqual([Subjects.policyAuthorizeBearer]);
  });

  it('rejects as authenticate.v1 does when the token does not authenticate, and asks nothing else', async () => {
    policyAnswers(Subjects.policyAuthorizeBearer, () => ({ ok: false, error: { code: 'UNAUTHENTICATED', message: 'token revoked', details: { tokenId: 'tok_1' } } }));
    policyAnswers(Subjects.policyAuthenticate, () => ({ ok: true, value: { identity, expiresAt: 0 } }));
    await expect(toolCalls().authorizeBearer('rg_token', meta, request)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'token revoked' });
    expect(asked).toEqual([Subjects.policyAuthorizeBearer]);
  });

  it('answers a refusal as authorize.v1\'s, recorded once by policy, nothing more at the gateway', async () => {
    policyAnswers(Subjects.policyAuthorizeBearer, () => ({ ok: true, value: { identity, refusal: { code: 'FORBIDDEN', message: 'no rule allows it', details: { attemptRecorded: true } } } }));
    const calls = toolCalls();
    const { answer } = await calls.authorizeBearer('rg_token', meta, request);
    const result = await calls.call(identity, meta, request.tool, request.args, undefined, new AbortController().signal, undefined, false, undefined, { startedAt: performance.now(), decided: answer });
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text: 'FORBIDDEN: no rule allows it' }], structuredContent: { code: 'FORBIDDEN', message: 'no rule allows it' } });
    expect(sink.events).toEqual([]);
  });

  it('falls back to authenticate.v1 then authorize.v1 when no policy serves authorize.v2 (an older replica)', async () => {
    policyAnswers(Subjects.policyAuthenticate, () => ({ ok: true, value: { identity, expiresAt: 0 } }));
    policyAnswers(Subjects.policyAuthorize, () => ({ ok: true, value: allow('run-v1') }));
    broker.register(EXEC, handler(() => ({ ok: true, value: { runId: 'run-v1', status: 'succeeded', durationMs: 1, dryRun: false, output } })));
    const calls = toolCalls();
    const { identity: who, answer } = await calls.authorizeBearer('rg_token', meta, request);
    expect(answer).toBeUndefined();
    const result = await calls.call(who, meta, request.tool, request.args, undefined, new AbortController().signal, undefined, false, undefined, { startedAt: performance.now() });
    expect(result.isError).toBe(false);
    expect(asked).toEqual([Subjects.policyAuthenticate, Subjects.policyAuthorize]);
  });

  it('never asks otherwise after authorize.v2 failed in transit: policy may have decided (fails closed)', async () => {
    broker.register(Subjects.policyAuthorizeBearer, handler(() => new Promise(() => undefined)));
    policyAnswers(Subjects.policyAuthenticate, () => ({ ok: true, value: { identity, expiresAt: 0 } }));
    const pending = toolCalls().authorizeBearer('rg_token', meta, request);
    await expect(pending).rejects.toMatchObject({ code: 'TIMEOUT', details: { transport: true } });
    expect(asked).toEqual([]);
  }, 15_000);

  it('records a run allowed while its call was cancelled as never sent, and sends nothing', async () => {
    let executed = false;
    broker.register(EXEC, handler(() => (executed = true)));
    const cancel = new AbortController();
    cancel.abort();
    const recorded = sink.next();
    const decided: Decided = { decision: AuthorizeReply.parse(allow('run-gone')) };
    const early = { startedAt: performance.now(), decided };
    await expect(toolCalls().call(identity, meta, request.tool, request.args, undefined, cancel.signal, undefined, false, undefined, early)).rejects.toBeInstanceOf(CallCancelled);
    await recorded;
    expect(sink.events).toEqual([expect.objectContaining({ type: 'audit.run.failed', runId: 'run-gone', outcome: expect.objectContaining({ status: 'cancelled', errorCode: 'CANCELLED' }) })]);
    expect(executed).toBe(false);
  });

  it('counts the call\'s time limit from when its authorization began', async () => {
    let executed = false;
    broker.register(EXEC, handler(() => (executed = true)));
    const recorded = sink.next();
    const decided: Decided = { decision: AuthorizeReply.parse(allow('run-slow')) };
    const early = { startedAt: performance.now() - 100, decided };
    const result = await toolCalls(50).call(identity, meta, request.tool, request.args, undefined, new AbortController().signal, undefined, false, undefined, early);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'TIMEOUT' } });
    await recorded;
    expect(sink.events).toEqual([expect.objectContaining({ runId: 'run-slow', outcome: expect.objectContaining({ status: 'timed_out' }) })]);
    expect(executed).toBe(false);
  });
});
