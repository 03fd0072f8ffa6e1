import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditEvent, ExecResult, execSubject, type RunTicketClaims } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { createTestDatabase, eventually, freePort, type TestDatabase } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import type { NatsConnection, Subscription } from 'nats';
import { Client } from 'pg';
import { executorPostgresDefinition } from '../lib/definition';
import type { ExecutorPostgresOptions } from '../lib/executor-postgres.module';

export interface SignedRequest {
  ticket: string;
  body: string;
  runId: string;
  claims: RunTicketClaims;
}

/**
 * Real NATS, a real database of its own and executor replicas started in this process, for
 * one test file. The AUDIT stream is shared with every other test file, so the harness
 * records `audit.run.>` as it is published and tests look only at their own run ids and
 * body digests.
 */
export class ExecutorHarness {
  readonly services: RunningService[] = [];
  /** A password the target never checks (trust auth): it must never leave the executor. */
  readonly appPassword = `app-pw-${randomBytes(6).toString('hex')}`;
  readonly downPassword = `down-pw-${randomBytes(6).toString('hex')}`;
  readonly policyKey: SigningKey;
  readonly policyPublicPem: string;
  readonly foreignKey: SigningKey;
  private envPrefix = '';

  private constructor(
    readonly db: TestDatabase,
    readonly nc: NatsConnection,
    readonly bus: NatsBus,
    readonly dir: string,
    readonly configFile: string,
    readonly downPort: number,
    /** Every `audit.run.*` event published while the harness runs, from any test file. */
    readonly audit: AuditEvent[],
    private readonly subscription: Subscription,
    keys: { policy: string; policyPublic: string; foreign: string },
  ) {
    this.policyPublicPem = keys.policyPublic;
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
  }

  static async create(name: string): Promise<ExecutorHarness> {
    const db = await createTestDatabase(`rgexec_${name}`);
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-'));
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const nc = await connectNats({ name: `executor-test-${name}` });
    const events: AuditEvent[] = [];
    const subscription = nc.subscribe('audit.run.>', {
      callback: (error, msg) => {
        if (error) return;
        const parsed = AuditEvent.safeParse(decodeJson(msg.data));
        if (parsed.success) events.push(parsed.data);
      },
    });
    await nc.flush();
    const envPrefix = `RG_EXEC_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    const downPort = await freePort();
    const harness = new ExecutorHarness(db, nc, new NatsBus(nc), dir, join(dir, 'rungate.yaml'), downPort, events, subscription, {
      policy: policy.privatePem,
      policyPublic: policy.publicPem,
      foreign: foreign.privatePem,
    });
    const target = new URL(db.url);
    target.username = 'postgres';
    target.password = harness.appPassword;
    process.env[`${envPrefix}_APP`] = target.toString();
    process.env[`${envPrefix}_DOWN`] = `postgres://rungate:${harness.downPassword}@127.0.0.1:${downPort}/none`;
    harness.writeConfig([policy.publicPem], envPrefix);
    return harness;
  }

  /**
   * Writes rungate.yaml with these ticket verify keys; running replicas pick it up through
   * their config watcher, as in production.
   */
  writeConfig(publicPems: string[], envPrefix = this.envPrefix): void {
    this.envPrefix = envPrefix;
    const refs = publicPems.map((pem, index) => {
      const file = join(this.dir, `policy-${index}.ed25519.pub`);
      writeFileSync(file, pem);
      return `file:${file}`;
    });
    writeFileSync(
      this.configFile,
      `repositories:
  - name: demo
    url: ${this.dir}
connections:
  - name: app-db
    type: postgres
    url: env:${envPrefix}_APP
    pool: { max: 4 }
  - name: small-db
    type: postgres
    url: env:${envPrefix}_APP
    maxRows: 3
    maxBytes: 200
  - name: down-db
    type: postgres
    url: env:${envPrefix}_DOWN
  - name: unset-db
    type: postgres
    url: env:${envPrefix}_NEVER_SET
  - name: bastion
    type: ssh
    host: 127.0.0.1
    user: ops
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
tickets:
  verifyKeys: [${refs.join(', ')}]
`,
    );
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  async startReplica(options: ExecutorPostgresOptions = {}): Promise<RunningService> {
    const ctx = await createServiceContext('executor-postgres', this.configFile);
    const service = await startService(executorPostgresDefinition(options), ctx);
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
      identity: { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 'tok-1' },
      runbook: { repository: 'demo', path: 'postgres/test.runbook.sql', commit: 'c0ffee0000000000000000000000000000000000', sha256: sha256Hex(body) },
      bodySha256: sha256Hex(body),
      connection: { name: 'app-db', type: 'postgres' },
      params: { user_id: '1', password: '[REDACTED]' },
      env: {},
      limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1024 * 1024 },
      readOnly: false,
      dryRun: false,
      rule: 'engineering-postgres',
      ...overrides,
    };
  }

  sign(body: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    const claims = this.claims(body, overrides);
    return { ticket: signTicket(claims, key), body, runId: claims.runId, claims };
  }

  exec(payload: unknown, timeoutMs = 30_000): Promise<ExecResult> {
    return this.bus.request(execSubject('postgres'), payload, ExecResult, { timeoutMs });
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

  /** Waits until the run's events include `type` (the core subscription may trail the reply). */
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

  async query<T extends Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.db.url });
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    for (const service of this.services.splice(0)) await service.close();
    this.subscription.unsubscribe();
    await this.nc.drain();
    await this.db.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
