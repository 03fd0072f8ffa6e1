import { randomBytes } from 'node:crypto';
import type { ApprovalRun, AuditEvent } from '@rungate/contracts';
import { decodeJson } from '@rungate/messaging';
import type { RunningService } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { DOUBLE_TOKENS, doubleConfig, heldRun, startGatewayOverDouble, type GatewayOverDouble, type PolicyDouble } from '../testing/approvals-policy-double';
import { MAX_DECISION_BODY_BYTES } from './runs.controller';

const { lead: LEAD, leadAgent: LEAD_AGENT, alice: ALICE } = DOUBLE_TOKENS;
/** Every request of this file carries it, so its attempts are told apart on the shared AUDIT stream. */
const USER_AGENT = `runs-api-spec/${randomBytes(6).toString('hex')}`;

const CONFIG = doubleConfig('audit: { attemptLimit: { events: 1000, window: 1m } }\n');

/**
 * The gateway's /v1/runs API (ADR 18 §4) over real NATS: bearer authentication as for MCP,
 * the contract's bodies and errors, each request forwarded to policy as an ApprovalsRequest,
 * each refusal at this edge recorded as an attempt on the AUDIT stream.
 */
describe('the /v1/runs approver API', () => {
  let started: GatewayOverDouble;
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
    started = await startGatewayOverDouble(CONFIG, [heldRun('run-alice-1', 'alice@rungate.local'), heldRun('run-lead-1', 'lead@rungate.local')], (nc) => {
      nc.subscribe('audit.attempt.denied', {
        callback: (_error, msg) => {
          const event = decodeJson(msg.data) as AuditEvent;
          if (event.actor?.userAgent === USER_AGENT) attempts.push(event);
        },
      });
    });
    ({ gateway, nc, policy } = started);
  });

  afterAll(() => started?.close());

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
