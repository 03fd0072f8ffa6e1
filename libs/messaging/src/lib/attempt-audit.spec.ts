import { createHash } from 'node:crypto';
import { RungateError, type AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { AttemptAuditor, attemptEvent, attemptKey, type Attempt } from './attempt-audit';
import { completeAuditEvent, type AuditSink } from './audit-publisher';

class RecordingSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  /** The id of every event offered, stored or not. */
  readonly offered: (string | undefined)[] = [];
  failing = false;

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    this.offered.push(input.id);
    if (this.failing) throw new RungateError('AUDIT_UNAVAILABLE', 'the audit stream did not acknowledge');
    const event = completeAuditEvent(input);
    this.events.push(event);
    return event;
  }
}

const actor = { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 'tok_1', ip: '10.0.0.7', userAgent: 'probe/1' };
const unknown = (tool: string): Attempt => ({ source: 'policy', actor, code: 'unknown-tool', reason: `unknown tool ${tool}`, answered: 'UNKNOWN_TOOL', tool });
const replica = { service: 'policy', host: 'policy-0', pid: 42 };

describe('attempt events', () => {
  it('carry the actor, the tool as requested, the code, the reason and what the caller was told', () => {
    expect(completeAuditEvent(attemptEvent(unknown('ops.pg.drop_all')))).toMatchObject({
      v: 1,
      type: 'audit.attempt.denied',
      source: 'policy',
      actor,
      tool: 'ops.pg.drop_all',
      outcome: { status: 'denied', errorCode: 'unknown-tool', error: 'unknown tool ops.pg.drop_all' },
      details: { answered: 'UNKNOWN_TOOL' },
    });
  });

  it('cut a long tool name and keep its length and digest', () => {
    const tool = `ops.${'x'.repeat(5000)}`;
    const event = attemptEvent(unknown(tool));
    expect(event.tool).toBe(`${tool.slice(0, 256)}…`);
    expect(event.details).toMatchObject({ toolLength: 5004, toolSha256: createHash('sha256').update(tool).digest('hex') });
    expect((event.outcome?.error ?? '').length).toBeLessThanOrEqual(1001);
  });

  it('are limited by token, else by human and agent, else by source address', () => {
    expect(attemptKey(actor)).toBe('token:tok_1');
    expect(attemptKey({ user: 'bob@example.com', groups: [], agent: 'cursor' })).toBe('user:bob@example.com/cursor');
    expect(attemptKey({ user: 'anonymous', groups: [], ip: '10.0.0.9' })).toBe('source:10.0.0.9');
  });
});

describe('AttemptAuditor (fake clock)', () => {
  let sink: RecordingSink;
  let now: number;
  let errors: string[];
  const auditor = () => new AttemptAuditor(sink, { limits: () => ({ events: 2, windowMs: 60_000, keys: 100 }), replica, log: { error: (m) => errors.push(m) }, now: () => now });

  beforeEach(() => {
    sink = new RecordingSink();
    now = Date.parse('2026-12-01T10:00:00Z');
    errors = [];
  });

  it('records up to the limit, then one counter event per window naming the replica', async () => {
    const a = auditor();
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await a.record(unknown(`ops.guess_${i}`)));
    expect(results).toEqual(['recorded', 'recorded', ...Array(8).fill('counted')]);
    await a.flush();
    expect(sink.events).toHaveLength(2);
    now += 60_000;
    await a.flush();
    expect(sink.events).toHaveLength(3);
    expect(sink.events[2]).toMatchObject({
      type: 'audit.attempt.suppressed',
      source: 'policy',
      actor,
      outcome: { status: 'denied', errorCode: 'suppressed' },
      details: {
        key: 'token:tok_1',
        window: { start: '2026-12-01T10:00:00.000Z', end: '2026-12-01T10:01:00.000Z' },
        limit: 2,
        recorded: 2,
        suppressed: 8,
        byCode: { 'unknown-tool': 8 },
        replica,
      },
    });
  });

  it('keeps a counter the stream would not take and publishes it at a later tick, under the same id', async () => {
    const a = auditor();
    for (let i = 0; i < 3; i++) await a.record(unknown('ops.x'));
    now += 60_000;
    sink.failing = true;
    await a.flush();
    expect(errors).toEqual([expect.stringMatching(/could not record 1 attempt counter event\(s\); retrying/)]);
    sink.failing = false;
    await a.flush();
    expect(sink.events.map((e) => e.type)).toEqual(['audit.attempt.denied', 'audit.attempt.denied', 'audit.attempt.suppressed']);
    const [failed, stored] = sink.offered.slice(-2);
    expect(failed).toEqual(expect.any(String));
    expect(stored).toBe(failed);
  });

  it('publishes the counts of open windows when it stops', async () => {
    const a = auditor();
    for (let i = 0; i < 5; i++) await a.record(unknown('ops.x'));
    await a.stop();
    expect(sink.events[2]).toMatchObject({ type: 'audit.attempt.suppressed', details: { suppressed: 3 } });
  });

  it('counts a refusal that is never recorded one by one', async () => {
    const a = auditor();
    const anonymous = { user: 'anonymous', groups: [], ip: '10.0.0.9' };
    a.count(anonymous, 'auth-rate-limited');
    a.count(anonymous, 'auth-rate-limited');
    await a.stop();
    expect(sink.events).toEqual([expect.objectContaining({ type: 'audit.attempt.suppressed', details: expect.objectContaining({ key: 'source:10.0.0.9', recorded: 0, suppressed: 2, byCode: { 'auth-rate-limited': 2 } }) })]);
  });

  it('rejects as the sink does when an attempt cannot be stored', async () => {
    sink.failing = true;
    await expect(auditor().record(unknown('ops.x'))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });
});
