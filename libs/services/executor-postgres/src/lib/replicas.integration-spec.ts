import { randomUUID } from 'node:crypto';
import { eventually } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';

describe('executor-postgres replicas, cancellation and shutdown', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('replicas');
    await h.query('CREATE TABLE runs (run_id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
  });

  afterAll(async () => {
    await h?.close();
  });

  async function backendOf(runId: string): Promise<{ pid: number; state: string }[]> {
    return h.query(`SELECT pid, state FROM pg_stat_activity WHERE application_name = $1`, [`rungate:${runId}`]);
  }

  describe('two replicas in one queue group', () => {
    beforeAll(async () => {
      await h.startReplica();
      await h.startReplica();
    });

    afterAll(async () => {
      for (const service of h.services.splice(0)) await service.close();
    });

    it('handles each request exactly once, spread over both replicas', async () => {
      const requests = Array.from({ length: 24 }, () => {
        const runId = randomUUID();
        return h.sign(`INSERT INTO runs (run_id) VALUES ('${runId}')`, { runId });
      });
      const results = await Promise.all(requests.map((request) => h.exec(request)));
      expect(results.map((r) => r.status)).toEqual(requests.map(() => 'succeeded'));
      const rows = await h.query<{ run_id: string }>('SELECT run_id FROM runs WHERE run_id = ANY($1::uuid[])', [requests.map((r) => r.runId)]);
      expect(rows).toHaveLength(requests.length);
      const executors = new Set<unknown>();
      for (const request of requests) {
        const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
        expect(events.map((e) => e.type)).toEqual(['audit.run.started', 'audit.run.completed']);
        executors.add(events[0]?.details?.['executor']);
      }
      expect(executors.size).toBe(2);
    });

    it('runs a ticket sent to both replicas at once only once', async () => {
      const runId = randomUUID();
      const request = h.sign(`INSERT INTO runs (run_id) VALUES ('${runId}')`, { runId });
      const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => h.exec(request)));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(Array(5).fill('TICKET_REPLAYED'));
      expect(await h.query('SELECT run_id FROM runs WHERE run_id = $1', [runId])).toHaveLength(1);
      const events = await h.eventually(runId, ['audit.run.started', 'audit.run.completed']);
      expect(events.filter((e) => e.type === 'audit.run.started')).toHaveLength(1);
    });
  });

  describe('one replica', () => {
    beforeEach(async () => {
      await h.startReplica({ shutdownGraceMs: 500 });
    });

    afterEach(async () => {
      for (const service of h.services.splice(0)) await service.close();
    });

    it('stops a run whose body lifted the statement timeout, from another connection', async () => {
      const request = h.sign(`SET LOCAL statement_timeout = 0; SELECT pg_sleep(30) /* ${randomUUID()} */`, {
        limits: { timeoutMs: 500, maxRows: 10, maxBytes: 10_000 },
      });
      const started = Date.now();
      const error = await h.refusal(request);
      expect(error.code).toBe('TIMEOUT');
      expect(Date.now() - started).toBeLessThan(4000);
      // The backend is idle again (or gone), not still sleeping.
      expect((await backendOf(request.runId)).filter((b) => b.state === 'active')).toEqual([]);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    });

    it('lets a run finish during shutdown when it fits in the grace period', async () => {
      const runId = randomUUID();
      const request = h.sign(`SELECT pg_sleep(0.2); INSERT INTO runs (run_id) VALUES ('${runId}')`, { runId });
      const running = h.exec(request);
      await eventually(async () => {
        if ((await backendOf(runId)).length === 0) throw new Error('not running yet');
      });
      await h.services.splice(0)[0]?.close();
      await expect(running).resolves.toMatchObject({ status: 'succeeded' });
      expect(await h.query('SELECT run_id FROM runs WHERE run_id = $1', [runId])).toHaveLength(1);
    });

    it('cancels a run still going at the end of the grace period, rolls it back and reports it failed', async () => {
      const runId = randomUUID();
      const request = h.sign(`INSERT INTO runs (run_id) VALUES ('${runId}'); SELECT pg_sleep(30)`, { runId, limits: { timeoutMs: 60_000, maxRows: 10, maxBytes: 10_000 } });
      const running = h.exec(request).then(
        () => ({ code: 'none', message: 'it succeeded' }),
        (error: { code: string; message: string }) => error,
      );
      await eventually(async () => {
        if ((await backendOf(runId)).filter((b) => b.state === 'active').length === 0) throw new Error('not running yet');
      });
      const stopping = Date.now();
      await h.services.splice(0)[0]?.close();
      expect(Date.now() - stopping).toBeLessThan(5000);
      const error = await running;
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(error.message).toMatch(/shutting down.*rolled back/);
      expect(await h.query('SELECT run_id FROM runs WHERE run_id = $1', [runId])).toEqual([]);
      expect((await backendOf(runId)).filter((b) => b.state === 'active')).toEqual([]);
      const events = await h.eventually(runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
    });
  });
});
