import { randomUUID } from 'node:crypto';
import { MaskingProfileConfig, type ConnectionConfig } from '@rungate/config';
import { RungateError, type AuditEvent, type AuditEventInput, type RunOutput, type RunTicketClaims, type SqlOutput } from '@rungate/contracts';
import { completeAuditEvent, type AuditSink, type RunLedger } from '@rungate/messaging';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, verifyKeyFromPem } from '@rungate/tickets';
import { maskingProfileDigest } from '@rungate/masking';
import type { ConnectionOf, ExecutorAdapter, OutputNeeds } from './adapter';
import { MaskingProfiles, type OutputMasking } from './masking';
import { RunPipeline, STOP_MEMORY_MS, outputDigest, type PipelineLog } from './pipeline';

class RecordingSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  readonly attempts: string[] = [];
  failures = new Map<string, number>();

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    this.attempts.push(event.type);
    const failing = this.failures.get(event.type) ?? 0;
    if (failing > 0) {
      this.failures.set(event.type, failing - 1);
      throw new RungateError('AUDIT_UNAVAILABLE', `the audit stream did not acknowledge ${event.type}; nothing was executed`);
    }
    if (!this.events.some((e) => e.id === event.id)) this.events.push(event);
    return event;
  }

  types(): string[] {
    return this.events.map((e) => `${e.type}${e.outcome ? `:${e.outcome.status}` : ''}`);
  }
}

class MemoryLedger implements RunLedger {
  readonly claimed = new Set<string>();
  /** Lets a test hold the claim open, as a slow JetStream ack would. */
  gate: Promise<void> = Promise.resolve();
  async claim(runId: string): Promise<void> {
    await this.gate;
    if (this.claimed.has(runId)) throw new RungateError('TICKET_REPLAYED', `run ${runId} was already executed; it will not run again`);
    this.claimed.add(runId);
  }
}

/** A ledger on the audit log's own database (the embedded mode): claim and `started` in one commit. */
class SharedCommitLedger extends MemoryLedger {
  constructor(protected readonly sink: RecordingSink) {
    super();
  }

  async claimAndRecordStart(runId: string, _holder: string, started: AuditEventInput): Promise<void> {
    await this.claim(runId);
    await this.sink.publish(started);
  }
}

/**
 * A ledger that claims ahead (the embedded database, ADR 20): the claim is taken at once,
 * its commit with `started` settles when the test says, or it answers "wait for the commit".
 */
class AheadLedger extends SharedCommitLedger {
  ahead = true;
  commit: Promise<void> = Promise.resolve();

  claimAhead(runId: string, _holder: string, started: AuditEventInput): { recorded: Promise<void> } | undefined {
    if (!this.ahead) return undefined;
    if (this.claimed.has(runId)) throw new RungateError('TICKET_REPLAYED', `run ${runId} was already executed; it will not run again`);
    this.claimed.add(runId);
    return { recorded: this.commit.then(() => this.sink.publish(started)).then(() => undefined) };
  }
}

interface Prepared {
  body: string;
}

const SQL: SqlOutput = {
  kind: 'sql',
  columns: [{ name: 'email', type: 'text' }],
  rows: [{ email: 'ada@example.com' }],
  rowCount: 1,
  statements: [{ command: 'SELECT', rowCount: 1 }],
  truncated: false,
};

/** Does what each test tells it to; records every call. */
class ScriptedAdapter implements ExecutorAdapter<'postgres', Prepared> {
  readonly type = 'postgres' as const;
  readonly calls: string[] = [];
  readonly needs: OutputNeeds[] = [];
  behaviour: (signal: AbortSignal) => Promise<RunOutput> = async () => SQL;

  prepare(_claims: RunTicketClaims, body: string, connection: ConnectionOf<'postgres'>, needs: OutputNeeds): Prepared {
    this.calls.push(`prepare:${connection.name}`);
    this.needs.push(needs);
    return { body };
  }

  run(prepared: Prepared, signal: AbortSignal): Promise<RunOutput> {
    this.calls.push(`run:${prepared.body}`);
    return this.behaviour(signal);
  }

  async cancel(): Promise<void> {
    this.calls.push('cancel');
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

/** An adapter that opens its session on the target while the run is claimed and acked. */
class SessionAdapter extends ScriptedAdapter {
  opening: (signal: AbortSignal) => Promise<void> = async () => undefined;

  open(prepared: Prepared, signal: AbortSignal): Promise<void> {
    this.calls.push(`open:${prepared.body}`);
    return this.opening(signal);
  }

  async abandon(prepared: Prepared): Promise<void> {
    this.calls.push(`abandon:${prepared.body}`);
  }
}

/** Rejects when the signal aborts, as a well-behaved adapter does after `cancel`. */
function untilAborted(signal: AbortSignal): Promise<RunOutput> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(new RungateError('EXECUTION_FAILED', 'the transaction was rolled back')), { once: true }),
  );
}

const connections: ConnectionConfig[] = [
  { name: 'app-db', type: 'postgres', url: 'env:APP_DB', pool: { max: 2 }, maxRows: 100, maxBytes: 10_000 },
  { name: 'bastion', type: 'ssh', host: 'h', port: 22, user: 'u', hostKey: 'ssh-ed25519 AAAA', maxBytes: 10 },
];

describe('RunPipeline', () => {
  const policy = generateTicketKeyPair();
  const policyKey = signingKeyFromPem(policy.privatePem);
  const stranger = signingKeyFromPem(generateTicketKeyPair().privatePem);
  let sink: RecordingSink;
  let ledger: MemoryLedger;
  let adapter: ScriptedAdapter;
  let logged: string[];
  let masking: OutputMasking | undefined;

  let created: RunPipeline<'postgres', Prepared>[] = [];

  /** The sink once every outcome event of the test's pipelines went out (they trail the reply). */
  async function audited(): Promise<RecordingSink> {
    await Promise.all(created.map((runs) => runs.recorded()));
    return sink;
  }

  function pipeline(options: { cancelGraceMs?: number; now?: () => number } = {}) {
    const log: PipelineLog = { log: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) };
    const runs = new RunPipeline({
      source: 'executor-test',
      replica: 'replica-1',
      adapter,
      verifyKeys: () => [verifyKeyFromPem(policy.publicPem)],
      connections: () => connections,
      ledger,
      audit: sink,
      masking,
      log,
      ...options,
    });
    created.push(runs);
    return runs;
  }

  function request(body = `SELECT email FROM users -- ${randomUUID()}`, overrides: Partial<RunTicketClaims> = {}, key = policyKey) {
    const now = Math.floor(Date.now() / 1000);
    const claims: RunTicketClaims = {
      v: 1,
      runId: randomUUID(),
      iat: now,
      exp: now + 30,
      identity: { user: 'alice@example.com', groups: ['eng'], agent: 'claude-code' },
      runbook: { repository: 'demo', path: 'pg/get.runbook.sql', commit: 'abc', sha256: 'f00' },
      bodySha256: sha256Hex(body),
      tool: 'demo.pg.get',
      connection: { name: 'app-db', type: 'postgres' },
      params: { id: '1' },
      env: {},
      limits: { timeoutMs: 2000, maxRows: 10, maxBytes: 10_000 },
      readOnly: true,
      dryRun: false,
      ...overrides,
    };
    return { payload: { ticket: signTicket(claims, key), body }, claims };
  }

  beforeEach(() => {
    created = [];
    sink = new RecordingSink();
    ledger = new MemoryLedger();
    adapter = new ScriptedAdapter();
    logged = [];
    masking = undefined;
  });

  it('runs an admitted request and audits started, then completed with the output digest', async () => {
    const { payload, claims } = request();
    const result = await pipeline().execute(payload);
    expect(result).toMatchObject({ runId: claims.runId, status: 'succeeded', dryRun: false, output: SQL });
    expect(adapter.calls).toEqual(['prepare:app-db', `run:${payload.body}`]);
    expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
    const [started, completed] = (await audited()).events;
    expect(started).toMatchObject({
      source: 'executor-test',
      runId: claims.runId,
      tool: 'demo.pg.get',
      actor: { user: 'alice@example.com', groups: ['eng'], agent: 'claude-code' },
      runbook: claims.runbook,
      connection: { name: 'app-db', type: 'postgres' },
      params: { id: '1' },
      details: { executor: 'replica-1', readOnly: true, dryRun: false },
    });
    const digest = outputDigest(SQL);
    expect(completed?.outcome).toMatchObject({ status: 'succeeded', exitCode: null, rows: 1, bytes: digest.bytes, outputSha256: digest.sha256, truncated: false });
  });

  describe('refusals', () => {
    it('verifies the ticket before anything else and audits the refusal without trusting its claims', async () => {
      const { payload } = request(undefined, {}, stranger);
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'TICKET_INVALID' });
      expect(adapter.calls).toEqual([]);
      expect(ledger.claimed.size).toBe(0);
      expect((await audited()).events).toHaveLength(1);
      const [event] = (await audited()).events;
      expect(event).toMatchObject({ type: 'audit.run.failed', outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
      expect(event?.runId).toBeUndefined();
      expect(event?.actor).toBeUndefined();
      expect(event?.details).toEqual({ executor: 'replica-1', ticketSha256: sha256Hex(payload.ticket), bodySha256: sha256Hex(payload.body) });
    });

    it('refuses requests without a ticket, and malformed ones', async () => {
      await expect(pipeline().execute({ body: 'DELETE FROM users' })).rejects.toMatchObject({ code: 'TICKET_INVALID' });
      await expect(pipeline().execute('DELETE FROM users')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(pipeline().execute({ ticket: 'x.y.z', body: 42 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect((await audited()).types()).toEqual(['audit.run.failed:refused', 'audit.run.failed:refused', 'audit.run.failed:refused']);
      expect(adapter.calls).toEqual([]);
    });

    it('refuses an expired ticket', async () => {
      const now = Math.floor(Date.now() / 1000);
      const { payload } = request(undefined, { iat: now - 100, exp: now - 70 });
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'TICKET_EXPIRED' });
      expect(adapter.calls).toEqual([]);
    });

    it.each([
      ['an unknown connection', { name: 'nope', type: 'postgres' as const }],
      ['a connection of another type', { name: 'bastion', type: 'postgres' as const }],
      ['a ticket for another executor type', { name: 'bastion', type: 'ssh' as const }],
    ])('refuses %s, naming the run', async (_, connection) => {
      const { payload, claims } = request(undefined, { connection });
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'CONNECTION_UNKNOWN' });
      expect(adapter.calls).toEqual([]);
      expect((await audited()).events[0]).toMatchObject({ runId: claims.runId, outcome: { status: 'refused', errorCode: 'CONNECTION_UNKNOWN' } });
    });

    it('refuses a body that differs from the ticket\'s hash before claiming the run', async () => {
      const { payload } = request();
      await expect(pipeline().execute({ ...payload, body: 'DROP TABLE users' })).rejects.toMatchObject({ code: 'BODY_MISMATCH' });
      expect(ledger.claimed.size).toBe(0);
      expect(adapter.calls).toEqual([]);
    });

    it('refuses a replayed run id and runs nothing the second time', async () => {
      const { payload } = request();
      await pipeline().execute(payload);
      await audited();
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
      expect(adapter.calls.filter((c) => c.startsWith('run:'))).toHaveLength(1);
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded', 'audit.run.failed:refused']);
    });

    it('refuses what the adapter refuses to prepare', async () => {
      adapter.prepare = () => {
        throw new RungateError('EXECUTION_FAILED', 'statement 1 of this runbook is COMMIT');
      };
      const { payload } = request();
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
      expect(ledger.claimed.size).toBe(0);
      expect((await audited()).types()).toEqual(['audit.run.failed:refused']);
    });
  });

  it('records started with the claim where the ledger commits both at once, and never for a replay', async () => {
    ledger = new SharedCommitLedger(sink);
    const { payload, claims } = request();
    const runs = pipeline();
    const published = jest.spyOn(sink, 'publish');
    await expect(runs.execute(payload)).resolves.toMatchObject({ runId: claims.runId, status: 'succeeded' });
    await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    expect(adapter.calls.filter((c) => c.startsWith('run:'))).toHaveLength(1);
    // The outcome trails the reply, so the replay's refusal may be recorded before it.
    expect((await audited()).types().sort()).toEqual(['audit.run.completed:succeeded', 'audit.run.failed:refused', 'audit.run.started']);
    // The started event went through the ledger's one commit, once: the replay has none.
    expect(published.mock.calls.filter(([event]) => event.type === 'audit.run.started')).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({ type: 'audit.run.started', runId: claims.runId, details: { executor: 'replica-1', bodySha256: claims.bodySha256 } });
  });

  describe('a claim taken ahead (the embedded ledger, ADR 20)', () => {
    let ahead: AheadLedger;
    let commit: { resolve: () => void; reject: (error: Error) => void };
    beforeEach(() => {
      ahead = new AheadLedger(sink);
      ledger = ahead;
      ahead.commit = new Promise<void>((resolve, reject) => (commit = { resolve, reject }));
    });

    it('runs the body while the claim and started commit, and replies only once they did, the outcome after started', async () => {
      let ran = false;
      adapter.behaviour = async () => {
        ran = true;
        return SQL;
      };
      const { payload, claims } = request();
      const runs = pipeline();
      let replied = false;
      const running = runs.execute(payload).finally(() => (replied = true));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(ran).toBe(true);
      expect(replied).toBe(false);
      expect(sink.events).toEqual([]);
      // A replay is refused at once, by the claim already taken.
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
      commit.resolve();
      await expect(running).resolves.toMatchObject({ runId: claims.runId, status: 'succeeded' });
      expect((await audited()).types().filter((t) => !t.includes('refused'))).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
      expect(adapter.calls.filter((c) => c.startsWith('run:'))).toHaveLength(1);
      expect(sink.events.find((e) => e.type === 'audit.run.completed')?.details).not.toHaveProperty('unrecordedStart');
    });

    it('a start that did not commit: the run had gone ahead, so its outcome says unrecordedStart and the operator is told', async () => {
      const { payload, claims } = request();
      const running = pipeline().execute(payload);
      commit.reject(new RungateError('SERVICE_UNAVAILABLE', `cannot record run ${claims.runId} in the run ledger; nothing was executed`));
      await expect(running).resolves.toMatchObject({ runId: claims.runId, status: 'succeeded' });
      expect((await audited()).types()).toEqual(['audit.run.completed:succeeded']);
      expect(sink.events[0]?.details).toMatchObject({ executor: 'replica-1', unrecordedStart: true });
      expect(logged.some((m) => m.includes(`run ${claims.runId}: its claim and audit.run.started were not committed`))).toBe(true);
    });

    it('a failed run waits for its start to commit too, and its failure follows started', async () => {
      adapter.behaviour = async () => {
        throw new RungateError('EXECUTION_FAILED', 'duplicate key');
      };
      const running = pipeline().execute(request().payload);
      let replied = false;
      void running.catch(() => (replied = true));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(replied).toBe(false);
      commit.resolve();
      await expect(running).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.failed:failed']);
    });

    it('where the ledger says to wait for the commit, nothing runs before it', async () => {
      ahead.ahead = false;
      let release: () => void = () => undefined;
      ahead.gate = new Promise((resolve) => (release = resolve));
      const running = pipeline().execute(request().payload);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(adapter.calls).toEqual(['prepare:app-db']);
      release();
      await expect(running).resolves.toMatchObject({ status: 'succeeded' });
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
    });
  });

  it('runs nothing when the audit stream does not acknowledge "started"', async () => {
    sink.failures.set('audit.run.started', 1);
    const { payload } = request();
    await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(adapter.calls).toEqual(['prepare:app-db']);
  });

  it('retries a terminal event with the same id until the stream takes it', async () => {
    sink.failures.set('audit.run.completed', 2);
    const runs = pipeline();
    await runs.execute(request().payload);
    await runs.recorded();
    expect(sink.attempts.filter((t) => t === 'audit.run.completed')).toHaveLength(3);
    expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
  });

  it('reports a process run that exited non-zero as failed, with its output', async () => {
    adapter.behaviour = async () => ({ kind: 'process', exitCode: 3, stdout: 'out', stderr: 'err', truncated: false });
    const result = await pipeline().execute(request().payload);
    expect(result).toMatchObject({ status: 'failed', output: { exitCode: 3 } });
    expect((await audited()).events[1]).toMatchObject({ type: 'audit.run.failed', outcome: { status: 'failed', exitCode: 3 } });
  });

  describe('masking', () => {
    const pii = MaskingProfileConfig.parse({ name: 'pii', entities: { email: 'redact' }, columns: ['ssn'] });
    const signed = { profile: 'pii', sha256: maskingProfileDigest(pii) };

    it('masks output and error messages with the ticket\'s profile before they are digested, audited or returned', async () => {
      masking = new MaskingProfiles([pii]);
      const result = await pipeline().execute(request(undefined, { masking: signed }).payload);
      expect(result.output).toMatchObject({ rows: [{ email: '[EMAIL]' }] });
      const completed = (await audited()).events[1];
      expect(completed?.outcome?.outputSha256).toBe(outputDigest(result.output).sha256);
      expect(completed?.outcome?.masking).toEqual({ profile: 'pii', sha256: signed.sha256, counts: { email: 1 } });
      adapter.behaviour = async () => {
        throw new RungateError('EXECUTION_FAILED', 'duplicate key (Key (email)=(ada@example.com) already exists.)');
      };
      const { payload, claims } = request(undefined, { masking: signed });
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ message: 'duplicate key (Key (email)=([EMAIL]) already exists.)' });
      const failed = (await audited()).events.find((e) => e.runId === claims.runId && e.type === 'audit.run.failed');
      expect(failed?.outcome).toMatchObject({ error: 'duplicate key (Key (email)=([EMAIL]) already exists.)', masking: { profile: 'pii', counts: { email: 1 } } });
      expect(JSON.stringify((await audited()).events)).not.toContain('ada@example.com');
    });

    it('names the profile in started and tells the adapter that column rules need source columns', async () => {
      masking = new MaskingProfiles([pii]);
      await pipeline().execute(request(undefined, { masking: signed }).payload);
      await pipeline().execute(request().payload);
      expect(adapter.needs).toEqual([{ sourceColumns: true }, { sourceColumns: false }]);
      expect((await audited()).events[0]?.details).toMatchObject({ masking: 'pii' });
    });

    it('leaves output of a ticket that selects no profile as it is, and records no masking', async () => {
      masking = new MaskingProfiles([pii]);
      const result = await pipeline().execute(request().payload);
      expect(result.output).toEqual(SQL);
      expect((await audited()).events[1]?.outcome?.masking).toBeUndefined();
    });

    const hashed = { ...pii, entities: { email: { strategy: 'hash' as const } }, hashKey: 'env:RUNGATE_TEST_UNSET_KEY' };
    it.each([
      ['has no profiles', undefined, pii, /this executor has no such profile/],
      ['lacks that profile', [{ ...pii, name: 'other' }], pii, /this executor has no such profile/],
      ['defines it differently', [{ ...pii, threshold: 0.9 }], pii, /differs from the one policy signed/],
      ['cannot read its hash key', [hashed], hashed, /cannot apply it/],
    ])('refuses, before claiming the run, a ticket whose profile this executor %s', async (_, profiles, signedDefinition, why) => {
      masking = profiles && new MaskingProfiles(profiles, {});
      const { payload, claims } = request(undefined, { masking: { profile: 'pii', sha256: maskingProfileDigest(signedDefinition) } });
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'MASKING_UNAVAILABLE', message: expect.stringMatching(why) });
      expect(adapter.calls).toEqual([]);
      expect(ledger.claimed.has(claims.runId)).toBe(false);
      expect((await audited()).events[0]).toMatchObject({ runId: claims.runId, outcome: { status: 'refused', errorCode: 'MASKING_UNAVAILABLE' } });
    });
  });

  describe('output guardrails from the ticket', () => {
    const CARD = '4111-1111-1111-1111';
    const cards: NonNullable<RunTicketClaims['guardrails']>[number] = {
      name: 'no-card-numbers',
      action: 'deny',
      message: 'Card numbers stay in the database',
      match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' },
    };
    const guarded = (guardrails: RunTicketClaims['guardrails']) => request(undefined, { v: 2, guardrails });

    it('withhold the output a deny guardrail matched, and audit its name, the sizes and nothing of the content', async () => {
      adapter.behaviour = async () => ({ ...SQL, rows: [{ email: 'ada@example.com', card: CARD }] });
      const { payload, claims } = guarded([cards]);
      const refused = await pipeline().execute(payload).catch((error: RungateError) => error);
      expect(refused).toMatchObject({
        code: 'GUARDRAIL_BLOCKED',
        message: `run ${claims.runId} ran on app-db, but its output was withheld: guardrail no-card-numbers: Card numbers stay in the database (text matching its pattern is in the output (column card))`,
        details: { guardrails: ['no-card-numbers'] },
      });
      const failed = (await audited()).events[1];
      expect(failed).toMatchObject({
        type: 'audit.run.failed',
        outcome: { status: 'failed', errorCode: 'GUARDRAIL_BLOCKED', rows: 1, bytes: expect.any(Number) },
        guardrails: [{ name: 'no-card-numbers', on: 'output', action: 'deny' }],
      });
      expect(failed?.outcome).not.toHaveProperty('outputSha256');
      expect(JSON.stringify(sink.events)).not.toMatch(/4111|ada@example/);
    });

    it('cap rows by what the statement returned, not by what the executor kept', async () => {
      adapter.behaviour = async () => ({ ...SQL, rowCount: 5000, truncated: true });
      const refused = await pipeline()
        .execute(guarded([{ name: 'row-cap', action: 'deny', match: { maxRows: 100 } }]).payload)
        .catch((error: RungateError) => error);
      expect(refused).toMatchObject({ code: 'GUARDRAIL_BLOCKED', message: expect.stringMatching(/withheld: guardrail row-cap: the result has 5000 rows, more than 100$/) });
      expect((await audited()).events[1]?.outcome).toMatchObject({ rows: 5000, truncated: true });
    });

    it('let a warned output through unchanged and record the warning with the outcome', async () => {
      const result = await pipeline().execute(guarded([{ name: 'big', action: 'warn', match: { maxBytes: 10 } }]).payload);
      expect(result.output).toEqual(SQL);
      expect((await audited()).events[1]).toMatchObject({
        type: 'audit.run.completed',
        guardrails: [{ name: 'big', on: 'output', action: 'warn', message: expect.stringMatching(/^the output is \d+ bytes, more than 10$/) }],
      });
    });

    it('look at the raw output, before masking, and screen error messages too', async () => {
      const masked = MaskingProfileConfig.parse({ name: 'cards', entities: { credit_card: 'mask' } });
      masking = new MaskingProfiles([masked]);
      const maskedAndGuarded = () => request(undefined, { v: 2, guardrails: [cards], masking: { profile: 'cards', sha256: maskingProfileDigest(masked) } });
      adapter.behaviour = async () => ({ ...SQL, rows: [{ card: CARD }] });
      await expect(pipeline().execute(maskedAndGuarded().payload)).rejects.toMatchObject({ code: 'GUARDRAIL_BLOCKED' });
      adapter.behaviour = async () => {
        throw new RungateError('EXECUTION_FAILED', `duplicate key value violates unique constraint "cards_pkey": Key (card)=(${CARD}) already exists`);
      };
      const { payload, claims } = maskedAndGuarded();
      await expect(pipeline().execute(payload)).rejects.toMatchObject({
        code: 'EXECUTION_FAILED',
        message: `run ${claims.runId} failed; its error message was withheld: guardrail no-card-numbers: Card numbers stay in the database (text matching its pattern is in the error message)`,
      });
      expect(JSON.stringify((await audited()).events)).not.toContain('4111');
    });

    it('refuse, before preparing anything, a ticket whose guardrail cannot be compiled here', async () => {
      await expect(pipeline().execute(guarded([{ ...cards, match: { pattern: '(unclosed' } }]).payload)).rejects.toMatchObject({ code: 'TICKET_INVALID' });
      expect(adapter.calls).toEqual([]);
      expect((await audited()).types()).toEqual(['audit.run.failed:refused']);
    });
  });

  it('cancels a run that exceeds its time limit and reports TIMEOUT', async () => {
    adapter.behaviour = untilAborted;
    const { payload, claims } = request(undefined, { limits: { timeoutMs: 30, maxRows: 1, maxBytes: 100 } });
    await expect(pipeline().execute(payload)).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: `run ${claims.runId} was cancelled because it exceeded its time limit of 30 ms; the transaction was rolled back`,
    });
    expect(adapter.calls).toContain('cancel');
    expect((await audited()).events[1]?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
  });

  describe('stop requests (rungate.exec.<type>.cancel.v1)', () => {
    /** Resolves once the adapter runs the body, and the run then waits for its signal. */
    function runUntilAborted(): Promise<void> {
      return new Promise<void>((started) => {
        adapter.behaviour = (signal) => {
          started();
          return untilAborted(signal);
        };
      });
    }

    it('stops a run its caller cancelled: the adapter is told, the run ends CANCELLED and is audited cancelled', async () => {
      const started = runUntilAborted();
      const runs = pipeline();
      const { payload, claims } = request();
      const running = runs.execute(payload);
      await started;
      runs.stop({ runId: claims.runId, reason: 'cancelled' });
      await expect(running).rejects.toMatchObject({ code: 'CANCELLED', message: `run ${claims.runId} was cancelled by its caller; the transaction was rolled back` });
      expect(adapter.calls).toEqual(['prepare:app-db', `run:${payload.body}`, 'cancel']);
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.failed:cancelled']);
      expect(sink.events[1]?.outcome).toMatchObject({ errorCode: 'CANCELLED', exitCode: null });
    });

    it('stops a run whose call ran out of gateway.callTimeout: TIMEOUT naming that limit, audited timed_out', async () => {
      const started = runUntilAborted();
      const runs = pipeline();
      const { payload, claims } = request();
      const running = runs.execute(payload);
      await started;
      runs.stop({ runId: claims.runId, reason: 'call_timeout', callTimeoutMs: 2500 });
      await expect(running).rejects.toMatchObject({
        code: 'TIMEOUT',
        message: `run ${claims.runId} was stopped because its call exceeded the gateway's time limit of 2500 ms (gateway.callTimeout); the transaction was rolled back`,
      });
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.failed:timed_out']);
    });

    it('refuses a run whose stop request came first: nothing opens or runs, the run id is not claimed, the audit says cancelled', async () => {
      const sessions = new SessionAdapter();
      adapter = sessions;
      const runs = pipeline();
      const { payload, claims } = request();
      runs.stop({ runId: claims.runId, reason: 'cancelled' });
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'CANCELLED', message: expect.stringContaining('before it started; nothing was executed') });
      expect(sessions.calls).toEqual(['prepare:app-db']);
      expect(ledger.claimed.has(claims.runId)).toBe(false);
      expect((await audited()).types()).toEqual(['audit.run.failed:cancelled']);
      expect(sink.events[0]).toMatchObject({ runId: claims.runId, outcome: { errorCode: 'CANCELLED' } });
    });

    it('still reaches a run after a replay of its ticket was refused', async () => {
      const started = runUntilAborted();
      const runs = pipeline();
      const { payload, claims } = request();
      const running = runs.execute(payload);
      await started;
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
      runs.stop({ runId: claims.runId, reason: 'cancelled' });
      await expect(running).rejects.toMatchObject({ code: 'CANCELLED' });
    });

    it('leaves other runs alone, and forgets a stop request once every ticket it could match has expired', async () => {
      let now = Date.now();
      const runs = pipeline({ now: () => now });
      const stopped = request();
      runs.stop({ runId: stopped.claims.runId, reason: 'cancelled' });
      await expect(runs.execute(request().payload)).resolves.toMatchObject({ status: 'succeeded' });
      // Long after: no ticket signed before the stop request is still valid (tickets live ≤ 60 s).
      now += STOP_MEMORY_MS + 1;
      const later = request(undefined, { runId: stopped.claims.runId, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 30 });
      await expect(runs.execute(later.payload)).resolves.toMatchObject({ status: 'succeeded' });
    });
  });

  it('reports an unknown outcome when a cancelled run does not stop', async () => {
    adapter.behaviour = () => new Promise<RunOutput>(() => undefined);
    const { payload } = request(undefined, { limits: { timeoutMs: 20, maxRows: 1, maxBytes: 100 } });
    await expect(pipeline({ cancelGraceMs: 30 }).execute(payload)).rejects.toMatchObject({ code: 'OUTCOME_UNKNOWN' });
    expect((await audited()).events[1]?.outcome).toMatchObject({ status: 'unknown', errorCode: 'OUTCOME_UNKNOWN' });
  });

  it('answers an adapter bug as INTERNAL and never logs its message', async () => {
    adapter.behaviour = async () => {
      throw new Error('connect to postgres://app:hunter2@db failed');
    };
    await expect(pipeline().execute(request().payload)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(logged.join('\n')).not.toContain('hunter2');
    expect(JSON.stringify((await audited()).events)).not.toContain('hunter2');
  });

  it('replies without waiting for the ack of the outcome event, and shutdown waits for it', async () => {
    let ack: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (ack = resolve));
    const publish = sink.publish.bind(sink);
    sink.publish = async (input) => {
      if (input.type === 'audit.run.completed') await held;
      return publish(input);
    };
    const runs = pipeline();
    await expect(runs.execute(request().payload)).resolves.toMatchObject({ status: 'succeeded' });
    expect(sink.types()).toEqual(['audit.run.started']);
    let stopped = false;
    const stopping = runs.shutdown(1000).then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stopped).toBe(false);
    ack();
    await stopping;
    expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
  });

  describe('a session opened while the run is claimed and acked', () => {
    let sessions: SessionAdapter;
    beforeEach(() => {
      sessions = new SessionAdapter();
      adapter = sessions;
    });

    it('opens before the claim settles and sends the body only after the started ack', async () => {
      let release: () => void = () => undefined;
      ledger.gate = new Promise((resolve) => (release = resolve));
      const { payload } = request();
      const running = pipeline().execute(payload);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(sessions.calls).toEqual(['prepare:app-db', `open:${payload.body}`]);
      expect(sink.events).toEqual([]);
      release();
      await expect(running).resolves.toMatchObject({ status: 'succeeded' });
      expect(sessions.calls).toEqual(['prepare:app-db', `open:${payload.body}`, `run:${payload.body}`]);
      expect((await audited()).types()).toEqual(['audit.run.started', 'audit.run.completed:succeeded']);
    });

    it('abandons the session of a replayed run id, and of a run whose started event was not acked, running neither', async () => {
      const runs = pipeline();
      const { payload } = request();
      await runs.execute(payload);
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
      sink.failures.set('audit.run.started', 1);
      const other = request().payload;
      await expect(runs.execute(other)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      await runs.recorded();
      expect(sessions.calls.filter((call) => call.startsWith('run:'))).toEqual([`run:${payload.body}`]);
      expect(sessions.calls.slice(-6)).toEqual([
        'prepare:app-db', `open:${payload.body}`, `abandon:${payload.body}`,
        'prepare:app-db', `open:${other.body}`, `abandon:${other.body}`,
      ]);
    });

    it('reports a session that failed to open as the run\'s failure, after started, without running it', async () => {
      sessions.opening = async () => {
        throw new RungateError('TARGET_UNAVAILABLE', 'connection app-db (127.0.0.1:1): connection refused; nothing was executed');
      };
      const { payload, claims } = request();
      await expect(pipeline().execute(payload)).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE' });
      expect(sessions.calls).not.toContain(`run:${payload.body}`);
      expect((await audited()).events.filter((e) => e.runId === claims.runId).map((e) => `${e.type}:${e.outcome?.errorCode ?? ''}`)).toEqual([
        'audit.run.started:',
        'audit.run.failed:TARGET_UNAVAILABLE',
      ]);
    });

    it('reports a timeout, not an unknown outcome, when a session ignores its cancel: the body was never sent', async () => {
      sessions.opening = () => new Promise<void>(() => undefined);
      const { payload } = request(undefined, { limits: { timeoutMs: 20, maxRows: 1, maxBytes: 100 } });
      await expect(pipeline({ cancelGraceMs: 30 }).execute(payload)).rejects.toMatchObject({
        code: 'TIMEOUT',
        message: expect.stringContaining('nothing was executed'),
      });
      expect(sessions.calls).not.toContain(`run:${payload.body}`);
    });

    it('times out a session that does not open, and never runs it', async () => {
      sessions.opening = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new RungateError('EXECUTION_FAILED', 'connect aborted')), { once: true }));
      const { payload } = request(undefined, { limits: { timeoutMs: 30, maxRows: 1, maxBytes: 100 } });
      const runs = pipeline();
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'TIMEOUT' });
      await runs.recorded();
      expect(sessions.calls).toEqual(['prepare:app-db', `open:${payload.body}`, 'cancel', `abandon:${payload.body}`]);
    });
  });

  describe('shutdown', () => {
    it('lets in-flight runs finish within the grace period', async () => {
      let finish: (output: RunOutput) => void = () => undefined;
      adapter.behaviour = () => new Promise((resolve) => (finish = resolve));
      const runs = pipeline();
      const running = runs.execute(request().payload);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const stopping = runs.shutdown(1000);
      finish(SQL);
      await expect(running).resolves.toMatchObject({ status: 'succeeded' });
      await stopping;
      expect(adapter.calls).toContain('close');
      expect(adapter.calls).not.toContain('cancel');
    });

    it('cancels runs still in flight at the deadline and reports them failed', async () => {
      adapter.behaviour = untilAborted;
      const runs = pipeline();
      const { payload, claims } = request();
      const running = expect(runs.execute(payload)).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('shutting down') });
      await new Promise((resolve) => setTimeout(resolve, 10));
      await runs.shutdown(20);
      await running;
      expect(adapter.calls).toEqual(['prepare:app-db', `run:${payload.body}`, 'cancel', 'close']);
      expect((await audited()).events.filter((e) => e.runId === claims.runId).map((e) => e.type)).toEqual(['audit.run.started', 'audit.run.failed']);
    });

    it('refuses new work once draining, without claiming the run', async () => {
      const runs = pipeline();
      await runs.shutdown(10);
      const { payload, claims } = request();
      await expect(runs.execute(payload)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(ledger.claimed.has(claims.runId)).toBe(false);
      expect((await audited()).events[0]).toMatchObject({ runId: claims.runId, outcome: { status: 'refused', errorCode: 'SERVICE_UNAVAILABLE' } });
    });
  });
});
