import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditEvent, ExecResult, execSubject, type RunTicketClaims } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import type { NatsConnection, Subscription } from 'nats';
import { executorShellDefinition } from '../lib/definition';
import type { ExecutorShellOptions } from '../lib/executor-shell.module';

export interface SignedRequest {
  ticket: string;
  body: string;
  runId: string;
  claims: RunTicketClaims;
}

/**
 * Real NATS and executor-shell replicas started in this process, for one test file. Run
 * directories are made under `runsDir`, so a test can see that none is left behind. The
 * AUDIT stream is shared with every other test file, so the harness records `audit.run.>`
 * as it is published and tests look only at their own run ids and body digests.
 *
 * Connections in its rungate.yaml:
 * - `ops-box`: /bin/sh with a secret `DEPLOY_TOKEN` (from `env:`) and a literal `AWS_PROFILE`;
 * - `bash-box`: /bin/bash; `small-box`: maxBytes 200;
 * - `unset-box`: a secret whose environment variable is never set;
 * - `app-db`: a postgres connection, for type mismatches.
 */
export class ExecutorHarness {
  readonly services: RunningService[] = [];
  /** The value behind ops-box's DEPLOY_TOKEN: it must never leave the executor. */
  readonly deployToken = `deploy-${randomBytes(12).toString('hex')}`;
  /** Set in this (the executor's) process environment; no script may see it. */
  readonly sentinel = { name: `RG_SHELL_SENTINEL_${randomBytes(4).toString('hex').toUpperCase()}`, value: `leaked-${randomBytes(8).toString('hex')}` };
  readonly policyKey: SigningKey;
  readonly foreignKey: SigningKey;
  /** Where every run's private directory is made. */
  readonly runsDir: string;

  private constructor(
    readonly nc: NatsConnection,
    readonly bus: NatsBus,
    /** Scratch space of the test itself (pid files, canaries), outside any run directory. */
    readonly dir: string,
    readonly configFile: string,
    readonly audit: AuditEvent[],
    private readonly subscription: Subscription,
    private readonly envPrefix: string,
    keys: { policy: string; foreign: string },
  ) {
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
    this.runsDir = join(dir, 'runs');
  }

  static async create(name: string): Promise<ExecutorHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-shell-'));
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const nc = await connectNats({ name: `executor-shell-test-${name}` });
    const events: AuditEvent[] = [];
    const subscription = nc.subscribe('audit.run.>', {
      callback: (error, msg) => {
        if (error) return;
        const parsed = AuditEvent.safeParse(decodeJson(msg.data));
        if (parsed.success) events.push(parsed.data);
      },
    });
    await nc.flush();
    const envPrefix = `RG_SHELL_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    const harness = new ExecutorHarness(nc, new NatsBus(nc), dir, join(dir, 'rungate.yaml'), events, subscription, envPrefix, {
      policy: policy.privatePem,
      foreign: foreign.privatePem,
    });
    mkdirSync(harness.runsDir);
    process.env[`${envPrefix}_TOKEN`] = harness.deployToken;
    process.env[harness.sentinel.name] = harness.sentinel.value;
    const publicKey = join(dir, 'policy.ed25519.pub');
    writeFileSync(publicKey, policy.publicPem);
    writeFileSync(
      harness.configFile,
      `repositories:
  - name: demo
    url: ${dir}
connections:
  - name: ops-box
    type: shell
    env:
      DEPLOY_TOKEN: env:${envPrefix}_TOKEN
      AWS_PROFILE: ops
  - name: bash-box
    type: shell
    shell: /bin/bash
  - name: small-box
    type: shell
    maxBytes: 200
  - name: unset-box
    type: shell
    env: { TOKEN: env:${envPrefix}_NEVER_SET }
  - name: app-db
    type: postgres
    url: env:${envPrefix}_DB
tickets:
  verifyKeys: [file:${publicKey}]
`,
    );
    return harness;
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  async startReplica(options: ExecutorShellOptions = {}): Promise<RunningService> {
    const ctx = await createServiceContext('executor-shell', this.configFile);
    const service = await startService(executorShellDefinition({ workdirBase: this.runsDir, ...options }), ctx);
    this.services.push(service);
    return service;
  }

  claims(body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    const now = Math.floor(Date.now() / 1000);
    return {
      v: 1,
      runId: randomUUID(),
      iat: now,
      exp: now + 30,
      identity: { user: 'alice@example.com', groups: ['sre'], agent: 'claude-code', tokenId: 'tok-1' },
      runbook: { repository: 'demo', path: 'ops/test.runbook.sh', commit: 'c0ffee0000000000000000000000000000000000', sha256: sha256Hex(body) },
      bodySha256: sha256Hex(body),
      connection: { name: 'ops-box', type: 'shell' },
      params: {},
      env: {},
      limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1024 * 1024 },
      readOnly: false,
      dryRun: false,
      rule: 'sre-shell',
      ...overrides,
    };
  }

  sign(body: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    const claims = this.claims(body, overrides);
    return { ticket: signTicket(claims, key), body, runId: claims.runId, claims };
  }

  exec(payload: unknown, timeoutMs = 30_000): Promise<ExecResult> {
    return this.bus.request(execSubject('shell'), payload, ExecResult, { timeoutMs });
  }

  /** Resolves with the error a request was answered with; fails the test if it succeeded. */
  async refusal(payload: unknown): Promise<{ code: string; message: string }> {
    try {
      const result = await this.exec(payload);
      throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      if (!code) throw error;
      return { code, message };
    }
  }

  eventsFor(runId: string): AuditEvent[] {
    return this.audit.filter((event) => event.runId === runId);
  }

  /** Waits until the run's events include `types` (the core subscription may trail the reply). */
  async eventually(runId: string, types: string[]): Promise<AuditEvent[]> {
    return eventually(async () => {
      const events = this.eventsFor(runId);
      const seen = events.map((event) => event.type);
      if (!types.every((type) => seen.includes(type))) throw new Error(`run ${runId}: saw ${seen.join(', ') || 'nothing'}, want ${types.join(', ')}`);
      return events;
    }, 10_000);
  }

  /** Refusals of unverified requests carry no run id; they are found by the digest of their body. */
  async refusalByBody(body: string): Promise<AuditEvent> {
    const digest = sha256Hex(body);
    return eventually(async () => {
      const event = this.audit.find((e) => e.details?.['bodySha256'] === digest);
      if (!event) throw new Error(`no audit event for body ${digest}`);
      return event;
    }, 10_000);
  }

  /** Run directories still on disk; empty whenever no run is in flight. */
  leftoverRunDirs(): string[] {
    return readdirSync(this.runsDir);
  }

  async close(): Promise<void> {
    for (const service of this.services.splice(0)) await service.close();
    this.subscription.unsubscribe();
    await this.nc.drain();
    delete process.env[`${this.envPrefix}_TOKEN`];
    delete process.env[this.sentinel.name];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
