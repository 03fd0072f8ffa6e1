import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@rungate/config';
import { ApprovalsRequest, AuthenticateRequest, RungateError, Subjects, type ApprovalRun } from '@rungate/contracts';
import { connectNats, decodeJson, encodeJson, scopedSubject, subjectPrefix } from '@rungate/messaging';
import { authenticateStaticToken, tokenSha256 } from '@rungate/policy';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import type { NatsConnection, Subscription } from 'nats';
import { gatewayService } from '../lib/definition';

/**
 * The tokens of the suites over the double: lead's own (human, client cli), an agent's of
 * lead's, and alice's own (human, no client named). Fresh per process.
 */
export const DOUBLE_TOKENS = {
  lead: `rg_lead_${randomBytes(8).toString('hex')}`,
  leadAgent: `rg_lead_agent_${randomBytes(8).toString('hex')}`,
  alice: `rg_alice_${randomBytes(8).toString('hex')}`,
};

/** The rungate.yaml of those suites (gateway on a free port), with `extra` lines after it. */
export function doubleConfig(extra = ''): string {
  return `
repositories: [{ name: demo, url: /srv/none }]
users:
  - { name: alice@rungate.local, groups: [engineering] }
  - { name: lead@rungate.local, groups: [sre-leads] }
tokens:
  - { sha256: "${tokenSha256(DOUBLE_TOKENS.lead)}", user: lead@rungate.local, agent: cli, human: true }
  - { sha256: "${tokenSha256(DOUBLE_TOKENS.leadAgent)}", user: lead@rungate.local, agent: claude-code }
  - { sha256: "${tokenSha256(DOUBLE_TOKENS.alice)}", user: alice@rungate.local, human: true }
gateway: { host: 127.0.0.1, port: 0 }
${extra}`;
}

/** A held run as policy would show it, for `requester`. */
export function heldRun(runId: string, requester: string): ApprovalRun {
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
export class PolicyDouble {
  readonly received: ApprovalsRequest[] = [];
  private readonly runs: Map<string, ApprovalRun>;
  private approvals?: Subscription;
  private authentication?: Subscription;

  /** `config`: the rungate.yaml whose static tokens authenticate; `runs`: the held runs it knows. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly config: string,
    runs: ApprovalRun[],
  ) {
    this.runs = new Map(runs.map((run) => [run.runId, run]));
  }

  start(): void {
    const config = parseConfig(this.config);
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

export interface GatewayOverDouble {
  gateway: RunningService;
  /** The suite's own NATS connection (the double answers on it). */
  nc: NatsConnection;
  policy: PolicyDouble;
  /** A scratch directory holding the gateway's rungate.yaml, removed by close(). */
  dir: string;
  close(): Promise<void>;
}

/**
 * The real gateway over real NATS, started from `config` (its gateway.port 0 for a free port),
 * with the policy double answering beside it. `beforeGateway` runs on the connection first
 * (subscriptions that must see everything the gateway publishes).
 */
export async function startGatewayOverDouble(config: string, runs: ApprovalRun[], beforeGateway: (nc: NatsConnection) => void = () => undefined): Promise<GatewayOverDouble> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-gateway-double-'));
  const configFile = join(dir, 'rungate.yaml');
  writeFileSync(configFile, config);
  const nc = await connectNats({ name: 'gateway-policy-double' });
  beforeGateway(nc);
  const policy = new PolicyDouble(nc, config, runs);
  policy.start();
  await nc.flush();
  const gateway = await startService(gatewayService, await createServiceContext('gateway', configFile), { shutdownHooks: false });
  return {
    gateway,
    nc,
    policy,
    dir,
    close: async () => {
      policy.stop();
      await gateway.close();
      await nc.drain();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
