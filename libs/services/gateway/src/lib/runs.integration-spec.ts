import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@rungate/config';
import { ApprovalsRequest, AuthenticateRequest, RungateError, Subjects, type ApprovalRun, type AuditEvent } from '@rungate/contracts';
import { connectNats, decodeJson, encodeJson, scopedSubject, subjectPrefix } from '@rungate/messaging';
import { authenticateStaticToken, tokenSha256 } from '@rungate/policy';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import type { NatsConnection, Subscription } from 'nats';
import { gatewayService } from './definition';
import { MAX_DECISION_BODY_BYTES } from './runs.controller';

const LEAD = `rg_lead_${randomBytes(8).toString('hex')}`;
const LEAD_AGENT = `rg_lead_agent_${randomBytes(8).toString('hex')}`;
const ALICE = `rg_alice_${randomBytes(8).toString('hex')}`;
/** Every request of this file carries it, so its attempts are told apart on the shared AUDIT stream. */
const USER_AGENT = `runs-api-spec/${randomBytes(6).toString('hex')}`;

const CONFIG = `
repositories: [{ name: demo, url: /srv/none }]
users:
  - { name: alice@rungate.local, groups: [engineering] }
  - { name: lead@rungate.local, groups: [sre-leads] }
tokens:
  - { sha256: "${tokenSha256(LEAD)}", user: lead@rungate.local, agent: cli, human: true }
  - { sha256: "${tokenSha256(LEAD_AGENT)}", user: lead@rungate.local, agent: claude-code }
  - { sha256: "${tokenSha256(ALICE)}", user: alice@rungate.local, human: true }
gateway: { host: 127.0.0.1, port: 0 }
audit: { attemptLimit: { events: 1000, window: 1m } }
`;

function heldRun(runId: string, requester: string): ApprovalRun {
  return {
    runId,
    state: 'pending',
    tool: 'demo.postgres.set_order_status',
    rule: 'engineering-demo-db',
    runbook: { repository: 'demo', path: 'postgres/set_order_status.runbook.sql', commit: 'c'.repeat(40), sha256: 'a'.repeat(64) },
    connection: { name: 'demo-db', type: 'postgres' },
    body: "UPDATE orders SET status = 'shipped' WHERE id = 1001;",
    bodySha256: 'b'.repeat(64),
    params: { status: 'shipped', order_id: '1001' },
    requester: { user: requester, agent: 'claude-code' },
    approval: { groups: ['sre-leads'], count: 1, approved: 0 },
    holds: [{ by: 'rule', name: 'engineering-demo-db' }],
    decisions: [],
    createdAt: '2026-12-07T12:00:00.000Z',
    expiresAt: '2026-12-07T13:00:00.000Z',
  };
}

/**
 * A TEST DOUBLE of policy's side of the bus, for the service this suite does not test: it
 * answers rungate.policy.authenticate.v1 with policy's own static-token check
 * (authenticateStaticToken, so human: true comes from the real code) and
 * rungate.policy.approvals.v1 with a small scripted run store — the approvals handler is
 * policy's, tested with policy. It records every approvals request it receives, so the suite
 * sees exactly what the gateway forwarded, and that what it refused was never forwarded.
 */
class PolicyDouble {
  readonly received: ApprovalsRequest[] = [];
  private readonly runs = new Map<string, ApprovalRun>([
    ['run-alice-1', heldRun('run-alice-1', 'alice@rungate.local')],
    ['run-lead-1', heldRun('run-lead-1', 'lead@rungate.local')],
  ]);
  private approvals?: Subscription;
  private authentication?: Subscription;

  constructor(private readonly nc: NatsConnection) {}

  start(): void {
    const config = parseConfig(CONFIG);
    this.authentication = this.nc.subscribe(scopedSubject(Subjects.policyAuthenticate, subjectPrefix()), {
      callback: (_error, msg) => {
        const { bearer } = AuthenticateRequest.parse(decodeJson(msg.data));
        msg.respond(encodeJson(this.answer(() => ({ identity: authenticateStaticToken(config, bearer), expiresAt: Date.now() + 60_000 }))));
      },
    });
    this.serveApprovals();
  }

  serveApprovals(): void {
    this.approvals = this.nc.subscribe(scopedSubject(Subjects.policyApprovals, subjectPrefix()), {
      callback: (_error, msg) => {
        const request = ApprovalsRequest.parse(decodeJson(msg.data));
        this.received.push(request);
        msg.respond(encodeJson(this.answer(() => ({ runs: this.decide(request) }))));
      },
    });
  }

  stopApprovals(): void {
    this.approvals?.unsubscribe();
  }

  stop(): void {
    this.stopApprovals();
    this.authentication?.unsubscribe();
  }

  private answer(value: () => unknown): unknown {
    try {
      return { ok: true, value: value() };
    } catch (error) {
      return { ok: false, error: (error as RungateError).toBody() };
    }
  }

  private decide(request: ApprovalsRequest): ApprovalRun[] {
    const { identity } = request;
    if (request.action === 'list') return [...this.runs.values()].filter((run) => run.state === 'pending' && run.requester.user !== identity.user);
    const run = this.runs.get(request.runId);
    if (!run) throw new RungateError('UNKNOWN_RUN', `no run ${request.runId}`);
    if (request.action === 'get') return [run];
    if (!identity.human) throw new RungateError('AGENT_CANNOT_APPROVE', 'an agent token never decides an approval; use your own token');
    if (run.requester.user === identity.user) throw new RungateError('SELF_APPROVAL', 'you asked for this run; another approver must decide it');
    if (run.state !== 'pending') throw new RungateError('RUN_NOT_PENDING', `run ${run.runId} is ${run.state}`);
    const at = '2026-12-07T12:01:00.000Z';
    const decided: ApprovalRun =
      request.action === 'approve'
        ? { ...run, state: 'approved', approval: { ...run.approval, approved: 1 }, decisions: [{ actor: { user: identity.user, agent: identity.agent }, verdict: 'approved', ...(request.comment ? { comment: request.comment } : {}), at }] }
        : { ...run, state: 'rejected', decisions: [{ actor: { user: identity.user, agent: identity.agent }, verdict: 'rejected', comment: request.reason, at }] };
    this.runs.set(run.runId, decided);
    return [decided];
  }
}

/**
 * The gateway's /v1/runs API (ADR 18 §4) over real NATS: bearer authentication as for MCP,
 * the contract's bodies and errors, each request forwarded to policy as an ApprovalsRequest,
 * each refusal at this edge recorded as an attempt on the AUDIT stream.
 */
describe('the /v1/runs approver API', () => {
  let dir: string;
  let gateway: RunningService;
  let nc: NatsConnection;
  let policy: PolicyDouble;
  const attempts: AuditEvent[] = [];

  const call = (path: string, init: { method?: string; token?: string; body?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'user-agent': USER_AGENT, ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
  const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-runs-api-'));
    const configFile = join(dir, 'rungate.yaml');
    writeFileSync(configFile, CONFIG);
    nc = await connectNats({ name: 'runs-api-spec' });
    const audit = nc.subscribe('audit.attempt.denied', {
      callback: (_error, msg) => {
        const event = decodeJson(msg.data) as AuditEvent;
        if (event.actor?.userAgent === USER_AGENT) attempts.push(event);
      },
    });
    expect(audit.getSubject()).toBe('audit.attempt.denied');
    policy = new PolicyDouble(nc);
    policy.start();
    await nc.flush();
    gateway = await startService(gatewayService, await createServiceContext('gateway', configFile), { shutdownHooks: false });
  });

  afterAll(async () => {
    policy?.stop();
    await gateway?.close();
    await nc?.drain();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The attempt recorded for a refusal with this reason (they arrive on the stream after the answer). */
  const attemptFor = (reason: RegExp) => eventually(() => {
    const found = attempts.find((event) => reason.test(event.outcome?.error ?? ''));
    if (!found) throw new Error(`no attempt matching ${reason}; recorded: ${attempts.map((e) => e.outcome?.error).join(' | ')}`);
    return found;
  });

  it('lists the pending runs this human may approve, forwarding the human identity and request meta', async () => {
    const { status, body } = await json(await call('/v1/runs?state=pending', { token: LEAD }));
    expect(status).toBe(200);
    expect((body['runs'] as ApprovalRun[]).map((run) => run.runId)).toEqual(['run-alice-1']);
    expect(policy.received.at(-1)).toMatchObject({ action: 'list', identity: { user: 'lead@rungate.local', agent: 'cli', human: true, groups: ['sre-leads'] }, meta: { userAgent: USER_AGENT } });
    // state=pending is the default.
    expect((await json(await call('/v1/runs', { token: LEAD }))).status).toBe(200);
  });

  it('shows one run, and answers an unknown one 404 UNKNOWN_RUN as policy words it', async () => {
    expect(await json(await call('/v1/runs/run-alice-1', { token: LEAD }))).toMatchObject({ status: 200, body: { runId: 'run-alice-1', state: 'pending', tool: 'demo.postgres.set_order_status' } });
    expect(await json(await call('/v1/runs/no-such-run', { token: LEAD }))).toEqual({ status: 404, body: { error: { code: 'UNKNOWN_RUN', message: 'no run no-such-run' } } });
  });

  it('approves with an optional comment and answers the run after the decision', async () => {
    const { status, body } = await json(await call('/v1/runs/run-alice-1/approve', { method: 'POST', token: LEAD, body: JSON.stringify({ comment: 'checked the order' }) }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ runId: 'run-alice-1', state: 'approved', approval: { approved: 1 }, decisions: [{ actor: { user: 'lead@rungate.local' }, verdict: 'approved', comment: 'checked the order' }] });
    expect(policy.received.at(-1)).toMatchObject({ action: 'approve', runId: 'run-alice-1', comment: 'checked the order', identity: { human: true } });
    // A decided run: policy's refusal with its status (409), exit code mapping is the CLI's.
    expect(await json(await call('/v1/runs/run-alice-1/approve', { method: 'POST', token: LEAD, body: '{}' }))).toEqual({
      status: 409,
      body: { error: { code: 'RUN_NOT_PENDING', message: 'run run-alice-1 is approved' } },
    });
  });

  it('passes policy\'s refusals through with their ERROR_EDGES status: an agent token, the requester\'s own run', async () => {
    expect(await json(await call('/v1/runs/run-lead-1/approve', { method: 'POST', token: LEAD_AGENT, body: '{}' }))).toMatchObject({ status: 403, body: { error: { code: 'AGENT_CANNOT_APPROVE' } } });
    expect(policy.received.at(-1)?.identity).not.toHaveProperty('human');
    expect(await json(await call('/v1/runs/run-lead-1/reject', { method: 'POST', token: LEAD, body: JSON.stringify({ reason: 'mine' }) }))).toMatchObject({ status: 403, body: { error: { code: 'SELF_APPROVAL' } } });
  });

  it('rejects with a reason, as a human token without an agent name', async () => {
    const { status, body } = await json(await call('/v1/runs/run-lead-1/reject', { method: 'POST', token: ALICE, body: JSON.stringify({ reason: 'wrong order id' }) }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ runId: 'run-lead-1', state: 'rejected', decisions: [{ actor: { user: 'alice@rungate.local' }, verdict: 'rejected', comment: 'wrong order id' }] });
    expect(policy.received.at(-1)).toMatchObject({ action: 'reject', runId: 'run-lead-1', reason: 'wrong order id', identity: { user: 'alice@rungate.local', human: true } });
  });

  it.each([
    ['a body that is not JSON', '/v1/runs/run-lead-1/approve', 'yes please', /^the request body is not JSON; send a JSON object such as \{"comment": "…"\}$/, 'malformed-request'],
    ['an array', '/v1/runs/run-lead-1/approve', '["ok"]', /^the request body must be a JSON object/, 'malformed-request'],
    ['an unknown key', '/v1/runs/run-lead-1/approve', '{"comment": "ok", "force": true}', /^unknown key\(s\) in the body: force; approve takes comment only$/, 'malformed-request'],
    ['a reason on an approval', '/v1/runs/run-lead-1/approve', '{"reason": "x"}', /^unknown key\(s\) in the body: reason; approve takes comment only$/, 'malformed-request'],
    ['a comment over 1000 characters', '/v1/runs/run-lead-1/approve', JSON.stringify({ comment: 'x'.repeat(1001) }), /^comment is optional text of at most 1000 characters$/, 'malformed-request'],
    ['a comment that is not text', '/v1/runs/run-lead-1/approve', '{"comment": 42}', /^comment is optional text/, 'malformed-request'],
    ['a rejection without a reason', '/v1/runs/run-lead-1/reject', '{}', /^reason is required: text of 1 to 1000 characters/, 'malformed-request'],
    ['an empty reason', '/v1/runs/run-lead-1/reject', '{"reason": ""}', /^reason is required/, 'malformed-request'],
    ['a body over the limit', '/v1/runs/run-lead-1/reject', JSON.stringify({ reason: 'x'.repeat(MAX_DECISION_BODY_BYTES) }), /^the request body is over 16384 bytes; a reason is at most 1000 characters$/, 'request-too-large'],
    ['a run id over 64 characters', `/v1/runs/${'r'.repeat(65)}/reject`, '{"reason": "no"}', /^a run id is 1 to 64 characters/, 'malformed-request'],
  ])('refuses %s with 400 and a clear message, forwards nothing, and records the attempt', async (_case, path, body, message, code) => {
    const before = policy.received.length;
    const answer = await json(await call(path, { method: 'POST', token: LEAD, body }));
    expect(answer).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringMatching(message) } } });
    expect(policy.received).toHaveLength(before);
    const attempt = await attemptFor(message);
    expect(attempt).toMatchObject({ source: 'gateway', actor: { user: 'lead@rungate.local' }, outcome: { status: 'denied', errorCode: code }, details: { answered: 'http:400', path } });
  });

  it.each([
    ['a state other than pending', '/v1/runs?state=executed', /^only pending runs are listed/],
    ['an unknown query parameter', '/v1/runs?state=pending&user=alice', /^unknown query parameter\(s\): user; the list takes state=pending only$/],
  ])('refuses a list with %s (400, nothing forwarded, recorded)', async (_case, path, message) => {
    const before = policy.received.length;
    expect(await json(await call(path, { token: LEAD }))).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringMatching(message) } } });
    expect(policy.received).toHaveLength(before);
    await attemptFor(message);
  });

  it('answers 401 with a Bearer challenge to no token and to an unknown one, forwards nothing, and records both', async () => {
    const before = policy.received.length;
    const missing = await call('/v1/runs/run-alice-1/approve', { method: 'POST', body: '{}' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="rungate"');
    expect(await missing.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/^missing bearer token/) } });
    const unknown = await call('/v1/runs', { token: 'rg_not-a-token-anyone-has' });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(await unknown.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'unknown or revoked token' } });
    expect(policy.received).toHaveLength(before);
    expect(await attemptFor(/^missing bearer token$/)).toMatchObject({ actor: { user: 'anonymous' }, outcome: { errorCode: 'unauthenticated' }, details: { answered: 'http:401', path: '/v1/runs/run-alice-1/approve' } });
    expect(await attemptFor(/^unknown or revoked token$/)).toMatchObject({ outcome: { errorCode: 'unauthenticated' }, details: { path: '/v1/runs' } });
  });

  it('answers 503 when policy does not answer the approvals subject, and records it', async () => {
    policy.stopApprovals();
    await nc.flush();
    try {
      expect(await json(await call('/v1/runs/run-alice-1', { token: LEAD }))).toEqual({
        status: 503,
        body: { error: { code: 'SERVICE_UNAVAILABLE', message: 'policy cannot be reached right now; nothing was decided. Retry shortly' } },
      });
      expect(await attemptFor(/^no service is answering rungate\.policy\.approvals\.v1/)).toMatchObject({ outcome: { errorCode: 'policy-unavailable' }, details: { answered: 'http:503' } });
    } finally {
      policy.serveApprovals();
      await nc.flush();
    }
  });
});
