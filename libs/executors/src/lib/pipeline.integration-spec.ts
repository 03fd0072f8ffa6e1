import { randomUUID } from 'node:crypto';
import type { ConnectionConfig } from '@rungate/config';
import { AUDIT_STREAM, AuditEvent, type RunOutput, type RunTicketClaims } from '@rungate/contracts';
import { JetStreamAuditSink, KvRunLedger, connectNats, decodeJson, ensureAuditStream } from '@rungate/messaging';
import { eventually } from '@rungate/test-util';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, verifyKeyFromPem } from '@rungate/tickets';
import type { NatsConnection } from 'nats';
import type { ExecutorAdapter } from './adapter';
import { RunPipeline } from './pipeline';

/** The pipeline on the real AUDIT stream and run ledger; the adapter only records what reached it. */
describe('RunPipeline on JetStream', () => {
  let nc: NatsConnection;
  let startSeq: number;
  const keys = generateTicketKeyPair();
  const signing = signingKeyFromPem(keys.privatePem);
  const ran: string[] = [];
  const adapter: ExecutorAdapter<'shell', string> = {
    type: 'shell',
    prepare: (claims) => claims.runId,
    run: async (runId): Promise<RunOutput> => {
      ran.push(runId);
      return { kind: 'process', exitCode: 0, stdout: 'ok\n', stderr: '', truncated: false };
    },
    cancel: async () => undefined,
    close: async () => undefined,
  };
  const connections: ConnectionConfig[] = [{ name: 'ops-box', type: 'shell', shell: '/bin/sh', env: {}, maxBytes: 1000 }];

  function request(body: string, key = signing): { payload: { ticket: string; body: string }; runId: string } {
    const now = Math.floor(Date.now() / 1000);
    const claims: RunTicketClaims = {
      v: 1,
      runId: randomUUID(),
      iat: now,
      exp: now + 30,
      identity: { user: 'alice@example.com', groups: ['ops'] },
      runbook: { repository: 'demo', path: 'shell/x.runbook.sh', commit: 'abc', sha256: 'f00' },
      bodySha256: sha256Hex(body),
      connection: { name: 'ops-box', type: 'shell' },
      params: {},
      env: {},
      limits: { timeoutMs: 5000, maxRows: 1, maxBytes: 1000 },
      readOnly: false,
      dryRun: false,
    };
    return { payload: { ticket: signTicket(claims, key), body }, runId: claims.runId };
  }

  async function pipeline(connection = nc): Promise<RunPipeline<'shell', string>> {
    return new RunPipeline({
      source: 'executor-test',
      replica: 'replica-a',
      adapter,
      verifyKeys: () => [verifyKeyFromPem(keys.publicPem)],
      connections: () => connections,
      ledger: await KvRunLedger.open(nc.jetstream()),
      audit: new JetStreamAuditSink(connection, 500),
    });
  }

  /** Reads the shared AUDIT stream from where this file started, keeping only the events asked for. */
  async function auditEvents(match: (event: AuditEvent) => boolean, expected: number): Promise<AuditEvent[]> {
    return eventually(async () => {
      const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { filterSubjects: 'audit.run.>', opt_start_seq: startSeq });
      const found: AuditEvent[] = [];
      for (let read = -1; read !== 0 && found.length < expected; ) {
        read = 0;
        for await (const msg of await consumer.fetch({ max_messages: 500, expires: 1000 })) {
          read++;
          // The stream is shared: other files' events (and other builds', on a long-lived
          // server) may not be this build's shape. Ours are, or the match below fails.
          const event = AuditEvent.safeParse(decodeJson(msg.data));
          if (event.success && match(event.data)) found.push(event.data);
        }
      }
      if (found.length < expected) throw new Error(`found ${found.length} of ${expected} events`);
      return found;
    }, 15_000);
  }

  beforeAll(async () => {
    nc = await connectNats({ name: 'executors-pipeline-test' });
    const jsm = await nc.jetstreamManager();
    await ensureAuditStream(jsm);
    startSeq = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
  });

  afterAll(async () => {
    await nc?.close();
  });

  it('writes started and completed to the AUDIT stream, and refuses the replay on any replica', async () => {
    const { payload, runId } = request(`echo ${randomUUID()}`);
    await (await pipeline()).execute(payload);
    await expect((await pipeline()).execute(payload)).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    expect(ran.filter((id) => id === runId)).toHaveLength(1);
    const events = await auditEvents((event) => event.runId === runId, 3);
    expect(events.map((e) => [e.type, e.outcome?.status ?? null])).toEqual([
      ['audit.run.started', null],
      ['audit.run.completed', 'succeeded'],
      ['audit.run.failed', 'refused'],
    ]);
  });

  it('audits a forged ticket by digest, without a run id', async () => {
    const body = `echo ${randomUUID()}`;
    const { payload, runId } = request(body, signingKeyFromPem(generateTicketKeyPair().privatePem));
    await expect((await pipeline()).execute(payload)).rejects.toMatchObject({ code: 'TICKET_INVALID' });
    const [event] = await auditEvents((e) => e.details?.['bodySha256'] === sha256Hex(body), 1);
    expect(event).toMatchObject({ type: 'audit.run.failed', outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
    expect(event?.runId).toBeUndefined();
    expect(ran).not.toContain(runId);
  });

  it('runs nothing when the audit stream cannot acknowledge "started"', async () => {
    const closed = await connectNats({ name: 'executors-pipeline-closed' });
    await closed.close();
    const { payload, runId } = request(`echo ${randomUUID()}`);
    await expect((await pipeline(closed)).execute(payload)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(ran).not.toContain(runId);
  });
});
