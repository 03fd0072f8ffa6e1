import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunEventTypes } from '@rungate/contracts';
import { eventually, maskingClaimFor } from '@rungate/testing';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';

const SCRIPT = 'k8s/check.runbook.sh';

/** What every executor guarantees, seen from the cluster's side: nothing reaches it unless the ticket allows exactly this run, once. */
describe('executor-kubernetes: tickets, replay guard, replicas and shutdown (fake API server, real NATS)', () => {
  let h: KubernetesHarness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-k8s-replay-'));
    h = await KubernetesHarness.create('pipeline');
    h.server.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    await h.startReplica({ shutdownGraceMs: 300 });
    await h.startReplica({ shutdownGraceMs: 300 });
  });

  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a ticket once across replicas of the queue group: the replay is refused and sends nothing of the script to the cluster', async () => {
    const marker = join(dir, 'ran-once');
    const body = `echo ran >> ${marker}\necho once\n`;
    const request = h.sign(body, SCRIPT);
    const first = await h.exec(request);
    const execs = h.server.execs.length;
    const replays = await Promise.all([h.refusal(request), h.refusal(request)]);

    expect(first.output).toMatchObject({ exitCode: 0, stdout: 'once\n' });
    expect(replays.map((r) => r.code)).toEqual(['TICKET_REPLAYED', 'TICKET_REPLAYED']);
    // A replay may have opened its exec session (or taken a warm one) while its run id was
    // claimed (ADR 9); it is closed after the reply, with no byte of stdin. What stays open is
    // at most one warm session per replica, waiting for the next run with nothing on its stdin.
    await eventually(async () => {
      const running = h.server.execs.slice(execs).filter((exec) => !exec.done).length;
      if (running > h.services.length) throw new Error(`${running} exec sessions still open for ${h.services.length} replicas`);
    }, 5000, 20);
    for (const exec of h.server.execs.slice(execs)) expect(exec).toMatchObject({ stdin: Buffer.alloc(0) });
    expect(readFileSync(marker, 'utf8')).toBe('ran\n');
  });

  it('refuses a ticket policy did not sign, a body that is not the signed one, and a connection of another type — before any request', async () => {
    // Warm sessions are replaced in the background after a run; let the last test's settle.
    let last = -1;
    const before = await eventually(async () => {
      const now = h.server.requests.length;
      if (now !== last) {
        last = now;
        throw new Error('the API server is still being called');
      }
      return now;
    }, 5000, 200);
    const forged = await h.refusal(h.sign('echo forged\n', SCRIPT, {}, h.foreignKey));
    const swapped = await h.refusal({ ...h.sign('echo reviewed\n', SCRIPT), body: 'echo swapped\n' });
    const wrongType = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'app-db', type: 'kubernetes' } }));

    expect(forged.code).toBe('TICKET_INVALID');
    expect(swapped.code).toBe('BODY_MISMATCH');
    expect(wrongType.code).toBe('CONNECTION_UNKNOWN');
    expect(h.server.requests.length).toBe(before);
  });

  it('masks what the pod prints before it leaves the executor, and audits the counts', async () => {
    const request = h.sign("echo 'mail ada@example.com'\necho 'card 4111111111111111' >&2\n", SCRIPT, { masking: maskingClaimFor(h.configFile, 'pii') });
    const result = await h.exec(request);
    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'mail [EMAIL]\n', stderr: 'card ****1111\n' });
    const [, completed] = await h.eventually(request.runId, [RunEventTypes.started, RunEventTypes.completed]);
    expect(completed?.outcome?.masking).toMatchObject({ profile: 'pii', counts: { credit_card: 1, email: 1 } });
    expect(JSON.stringify(h.eventsFor(request.runId))).not.toContain('4111111111111111');
  });

  it('writes audit.run.started before the exec and audit.run.completed with the output digest after it', async () => {
    const request = h.sign('echo audited\n', SCRIPT, { params: { reason: 'check' } });
    await h.exec(request);
    const events = await h.eventually(request.runId, [RunEventTypes.started, RunEventTypes.completed]);

    expect(events.map((e) => e.type)).toEqual([RunEventTypes.started, RunEventTypes.completed]);
    const completed = events[1];
    expect(completed).toMatchObject({
      source: 'executor-kubernetes',
      actor: { user: 'alice@example.com', agent: 'claude-code' },
      runbook: { repository: 'demo', path: SCRIPT },
      connection: { name: 'cluster', type: 'kubernetes' },
      params: { reason: 'check' },
      decision: { effect: 'allow', rule: 'sre-kubernetes' },
      outcome: { status: 'succeeded', exitCode: 0, truncated: false },
    });
    expect(completed?.outcome?.outputSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('at shutdown, closes the exec sessions still running after the grace period and reports them failed', async () => {
    const replica = h.services[0];
    const other = h.services[1];
    if (!replica || !other) throw new Error('two replicas expected');
    // Only the first replica is left in the queue group while the run starts.
    await other.close();
    h.services.splice(1, 1);
    const request = h.sign('echo begun\nsleep 30\n', SCRIPT);
    const running = h.refusal(request);
    await eventually(async () => {
      if (!h.server.execs.some((e) => e.stdin.toString('utf8').includes('sleep 30'))) throw new Error('not started');
    }, 10_000);
    await replica.close();
    h.services.splice(0, 1);
    const refusal = await running;

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('shutting down');
    const exec = h.server.execs.find((e) => e.stdin.toString('utf8').includes('sleep 30'));
    await exec?.finished;
    expect(exec?.closedByClient).toBe(true);
    const events = await h.eventually(request.runId, [RunEventTypes.failed]);
    expect(events.find((e) => e.type === RunEventTypes.failed)?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
  });
});
