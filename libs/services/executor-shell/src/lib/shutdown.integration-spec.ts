import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';
import { isRunning } from '../testing/processes';

describe('executor-shell shutdown', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('shutdown');
  });

  beforeEach(async () => {
    await h.startReplica({ shutdownGraceMs: 500, killGraceMs: 500 });
  });

  afterAll(async () => {
    await h?.close();
  });

  /** Waits for the pids a running script wrote: its own and its background child's. */
  async function pidsIn(file: string): Promise<number[]> {
    return eventually(async () => {
      const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
      if (!/^\d+ \d+$/.test(text)) throw new Error('not started yet');
      return text.split(' ').map(Number);
    }, 10_000, 20);
  }

  it('lets a run finish during shutdown when it fits in the grace period', async () => {
    const marker = join(h.dir, `started-${randomUUID()}`);
    const request = h.sign(`echo "0 $$" > "$MARKER"; sleep 0.2; echo finished`, { env: { MARKER: marker } });
    const running = h.exec(request);
    await pidsIn(marker);
    await h.services.splice(0)[0]?.close();
    await expect(running).resolves.toMatchObject({ status: 'succeeded', output: { stdout: 'finished\n', exitCode: 0 } });
    expect(h.leftoverRunDirs()).toEqual([]);
  });

  it('kills the process groups of runs still going at the end of the grace period, and reports them failed', async () => {
    const pidFile = join(h.dir, `pids-${randomUUID()}`);
    const request = h.sign(`sleep 300 & echo "$! $$" > "$PID_FILE"; sleep 300`, { env: { PID_FILE: pidFile }, limits: { timeoutMs: 60_000, maxRows: 1, maxBytes: 10_000 } });
    const running = h.exec(request).then(
      () => ({ code: 'none', message: 'it succeeded' }),
      (error: { code: string; message: string }) => error,
    );
    const pids = await pidsIn(pidFile);
    await h.services.splice(0)[0]?.close();
    const error = await running;
    expect(error.code).toBe('EXECUTION_FAILED');
    expect(error.message).toMatch(/the executor is shutting down; its process group was stopped/);
    await eventually(async () => expect(pids.filter(isRunning)).toEqual([]), 5000, 20);
    expect(h.leftoverRunDirs()).toEqual([]);
    const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
    expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
  });
});
