import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlQuoting, RunTicketClaims } from '@rungate/contracts';
import type { RunningService } from '@rungate/runtime';
import {
  ExecutorHarnessBase,
  connectRecordingBus,
  createTestMysqlDatabase,
  freePort,
  maskingClaimFor,
  signedRequest,
  testClaims,
  type RecordingBus,
  type SignedRequest,
  type TestMysqlDatabase,
  writeVerifyKeys,
} from '@rungate/testing';
import { generateTicketKeyPair, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import { executorMysqlDefinition } from '../lib/definition';
import type { ExecutorMysqlOptions } from '../lib/executor-mysql.module';

export type { SignedRequest } from '@rungate/testing';

export const DEFAULT_QUOTING: MysqlQuoting = { noBackslashEscapes: false, ansiQuotes: false };

/**
 * Real NATS, a real MariaDB database (and user) of its own and executor replicas started in
 * this process, for one test file. Connections: `app-db` (the default sql_mode), `nbe-db`
 * (NO_BACKSLASH_ESCAPES), `ansi-db` (ANSI_QUOTES), `small-db` (tight caps), `down-db`
 * (nothing listens), `unset-db` (its secret is not set), `ro-db` (the read-only account
 * `readOnlyUser`, which holds SELECT and SHOW VIEW on the table `orders` only, once a test
 * created it with `grantReadOnly`).
 */
export class ExecutorHarness extends ExecutorHarnessBase {
  readonly policyKey: SigningKey;
  readonly policyPublicPem: string;
  readonly foreignKey: SigningKey;
  readonly downPassword = `down-pw-${randomBytes(6).toString('hex')}`;
  readonly readOnlyPassword = `ro-pw-${randomBytes(6).toString('hex')}`;
  private envPrefix = '';

  private constructor(
    readonly db: TestMysqlDatabase,
    recording: RecordingBus,
    readonly dir: string,
    readonly configFile: string,
    readonly downPort: number,
    keys: { policy: string; policyPublic: string; foreign: string },
  ) {
    super('mysql', recording);
    this.policyPublicPem = keys.policyPublic;
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
  }

  static async create(name: string): Promise<ExecutorHarness> {
    const db = await createTestMysqlDatabase(`rgexec_${name}`);
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-mysql-'));
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const recording = await connectRecordingBus(`executor-mysql-test-${name}`);
    const envPrefix = `RG_MYSQL_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    const downPort = await freePort();
    const harness = new ExecutorHarness(db, recording, dir, join(dir, 'rungate.yaml'), downPort, {
      policy: policy.privatePem,
      policyPublic: policy.publicPem,
      foreign: foreign.privatePem,
    });
    process.env[`${envPrefix}_APP`] = db.url;
    process.env[`${envPrefix}_DOWN`] = `mysql://rungate:${harness.downPassword}@127.0.0.1:${downPort}/none`;
    const url = new URL(db.url);
    process.env[`${envPrefix}_RO`] = `mysql://${harness.readOnlyUser}:${harness.readOnlyPassword}@${url.host}${url.pathname}`;
    harness.writeConfig([policy.publicPem], envPrefix);
    return harness;
  }

  /** Writes rungate.yaml with these ticket verify keys; running replicas pick it up through their config watcher. */
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
    type: mysql
    url: env:${envPrefix}_APP
    pool: { max: 4 }
  - name: nbe-db
    type: mysql
    url: env:${envPrefix}_APP
    sqlMode: STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES
  - name: ansi-db
    type: mysql
    url: env:${envPrefix}_APP
    sqlMode: STRICT_TRANS_TABLES,ANSI_QUOTES
  - name: small-db
    type: mysql
    url: env:${envPrefix}_APP
    maxRows: 3
    maxBytes: 200
  - name: down-db
    type: mysql
    url: env:${envPrefix}_DOWN
  - name: unset-db
    type: mysql
    url: env:${envPrefix}_NEVER_SET
  - name: ro-db
    type: mysql
    url: env:${envPrefix}_RO
    masking: pii
  - name: pg-db
    type: postgres
    url: env:${envPrefix}_APP
masking:
  - name: pii
    entities: { email: redact, credit_card: mask }
    columns: [ssn, users.phone]
tickets:
  verifyKeys: [${refs.join(', ')}]
`,
    );
  }

  startReplica(options: ExecutorMysqlOptions = {}): Promise<RunningService> {
    return this.startDefinition(executorMysqlDefinition(options), this.configFile);
  }

  claims(body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    return testClaims(
      body,
      {
        path: 'mysql/test.runbook.sql',
        connection: { name: 'app-db', type: 'mysql' },
        groups: ['engineering'],
        rule: 'engineering-mysql',
        params: { user_id: '1', password: '[REDACTED]' },
      },
      { mysqlQuoting: DEFAULT_QUOTING, ...overrides },
    );
  }

  sign(body: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    return signedRequest(this.claims(body, overrides), body, key);
  }

  /** The read-only account of connection ro-db: named after this file's database user. */
  get readOnlyUser(): string {
    return `${this.db.user}_ro`;
  }

  /** Creates the read-only account, as README: Exploration recommends it, on these tables of this database. */
  async grantReadOnly(tables: readonly string[]): Promise<void> {
    await this.query(`CREATE USER '${this.readOnlyUser}'@'%' IDENTIFIED BY '${this.readOnlyPassword}'`);
    for (const table of tables) await this.query(`GRANT SELECT, SHOW VIEW ON \`${this.db.name}\`.\`${table}\` TO '${this.readOnlyUser}'@'%'`);
  }

  /** A signed exploration of `body` (no runbook; the explore claim), as policy would sign it. */
  signExploration(body: string, overrides: Partial<RunTicketClaims> = {}, tool: 'explore_sql' | 'explore_schema' = 'explore_sql'): SignedRequest {
    const { runbook: _runbook, ...claims } = this.claims(body, { v: 2, readOnly: true, tool, params: { sql: body }, ...overrides });
    return signedRequest({ explore: { tool, session: `ses_${'0'.repeat(24)}` }, ...claims }, body, this.policyKey);
  }

  /** The ticket claim policy would sign for a profile of this harness's rungate.yaml. */
  maskingClaim(profile: string): NonNullable<RunTicketClaims['masking']> {
    return maskingClaimFor(this.configFile, profile);
  }

  query<T = unknown>(sql: string, values: unknown[] = []): Promise<T> {
    return this.db.query<T>(sql, values);
  }

  async close(): Promise<void> {
    await this.disconnect();
    await this.query(`DROP USER IF EXISTS '${this.readOnlyUser}'@'%'`);
    await this.db.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
