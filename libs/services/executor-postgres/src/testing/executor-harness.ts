import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunTicketClaims } from '@rungate/contracts';
import type { RunningService } from '@rungate/runtime';
import {
  ExecutorHarnessBase,
  connectRecordingBus,
  createTestDatabase,
  freePort,
  maskingClaimFor,
  signedRequest,
  testClaims,
  type RecordingBus,
  type SignedRequest,
  type TestDatabase,
  writeVerifyKeys,
} from '@rungate/testing';
import { generateTicketKeyPair, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import { Client } from 'pg';
import { executorPostgresDefinition } from '../lib/definition';
import type { ExecutorPostgresOptions } from '../lib/executor-postgres.module';

export type { SignedRequest } from '@rungate/testing';

/**
 * Real NATS, a real database of its own and executor replicas started in this process, for
 * one test file. The AUDIT stream is shared with every other test file, so the harness
 * records `audit.run.>` as it is published and tests look only at their own run ids and
 * body digests.
 */
export class ExecutorHarness extends ExecutorHarnessBase {
  /** A password the target never checks (trust auth): it must never leave the executor. */
  readonly appPassword = `app-pw-${randomBytes(6).toString('hex')}`;
  readonly downPassword = `down-pw-${randomBytes(6).toString('hex')}`;
  readonly policyKey: SigningKey;
  readonly policyPublicPem: string;
  readonly foreignKey: SigningKey;
  private envPrefix = '';

  private constructor(
    readonly db: TestDatabase,
    recording: RecordingBus,
    readonly dir: string,
    readonly configFile: string,
    readonly downPort: number,
    keys: { policy: string; policyPublic: string; foreign: string },
  ) {
    super('postgres', recording);
    this.policyPublicPem = keys.policyPublic;
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
  }

  static async create(name: string): Promise<ExecutorHarness> {
    const db = await createTestDatabase(`rgexec_${name}`);
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-'));
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const recording = await connectRecordingBus(`executor-test-${name}`);
    const envPrefix = `RG_EXEC_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    const downPort = await freePort();
    const harness = new ExecutorHarness(db, recording, dir, join(dir, 'rungate.yaml'), downPort, {
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
    const refs = writeVerifyKeys(this.dir, publicPems);
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
  - name: bulk-db
    type: postgres
    url: env:${envPrefix}_APP
    maxRows: 20000
  - name: explore-db
    type: postgres
    url: env:${envPrefix}_APP
    maxRows: 50
    explore: { role: ${this.exploreRole} }
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
masking:
  - name: pii
    entities: { email: redact, credit_card: mask, iban: partial }
    columns: [ssn, users.phone]
tickets:
  verifyKeys: [${refs.join(', ')}]
`,
    );
  }

  /** The read-only role connection explore-db's explorations run as (cluster-wide, so named after this file's database). */
  get exploreRole(): string {
    return `${this.db.name}_ro`;
  }

  /** A signed exploration of `body` (no runbook; the explore claim), as policy would sign it. */
  signExploration(body: string, overrides: Partial<RunTicketClaims> = {}): SignedRequest {
    const { runbook: _runbook, ...claims } = this.claims(body, { v: 2, readOnly: true, tool: 'explore_sql', params: { sql: body }, ...overrides });
    return signedRequest({ explore: { tool: 'explore_sql', session: `ses_${'0'.repeat(24)}` }, ...claims }, body, this.policyKey);
  }

  /** The ticket claim policy would sign for a profile of this harness's rungate.yaml. */
  maskingClaim(profile: string): NonNullable<RunTicketClaims['masking']> {
    return maskingClaimFor(this.configFile, profile);
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  startReplica(options: ExecutorPostgresOptions = {}): Promise<RunningService> {
    return this.startDefinition(executorPostgresDefinition(options), this.configFile);
  }

  claims(body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    return testClaims(
      body,
      {
        path: 'postgres/test.runbook.sql',
        connection: { name: 'app-db', type: 'postgres' },
        groups: ['engineering'],
        rule: 'engineering-postgres',
        params: { user_id: '1', password: '[REDACTED]' },
      },
      overrides,
    );
  }

  sign(body: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    return signedRequest(this.claims(body, overrides), body, key);
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
    await this.disconnect();
    await this.db.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
