import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunTicketClaims } from '@rungate/contracts';
import type { RunningService } from '@rungate/runtime';
import { ExecutorHarnessBase, connectRecordingBus, signedRequest, testClaims, type RecordingBus, type SignedRequest } from '@rungate/testing';
import { generateTicketKeyPair, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import { executorShellDefinition } from '../lib/definition';
import type { ExecutorShellOptions } from '../lib/executor-shell.module';

export type { SignedRequest } from '@rungate/testing';

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
export class ExecutorHarness extends ExecutorHarnessBase {
  /** The value behind ops-box's DEPLOY_TOKEN: it must never leave the executor. */
  readonly deployToken = `deploy-${randomBytes(12).toString('hex')}`;
  /** Set in this (the executor's) process environment; no script may see it. */
  readonly sentinel = { name: `RG_SHELL_SENTINEL_${randomBytes(4).toString('hex').toUpperCase()}`, value: `leaked-${randomBytes(8).toString('hex')}` };
  readonly policyKey: SigningKey;
  readonly foreignKey: SigningKey;
  /** Where every run's private directory is made. */
  readonly runsDir: string;

  private constructor(
    recording: RecordingBus,
    /** Scratch space of the test itself (pid files, canaries), outside any run directory. */
    readonly dir: string,
    readonly configFile: string,
    private readonly envPrefix: string,
    keys: { policy: string; foreign: string },
  ) {
    super('shell', recording);
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
    this.runsDir = join(dir, 'runs');
  }

  static async create(name: string): Promise<ExecutorHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-shell-'));
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const recording = await connectRecordingBus(`executor-shell-test-${name}`);
    const envPrefix = `RG_SHELL_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    const harness = new ExecutorHarness(recording, dir, join(dir, 'rungate.yaml'), envPrefix, {
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
  startReplica(options: ExecutorShellOptions = {}): Promise<RunningService> {
    return this.startDefinition(executorShellDefinition({ workdirBase: this.runsDir, ...options }), this.configFile);
  }

  claims(body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    return testClaims(body, { path: 'ops/test.runbook.sh', connection: { name: 'ops-box', type: 'shell' }, groups: ['sre'], rule: 'sre-shell' }, overrides);
  }

  sign(body: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    return signedRequest(this.claims(body, overrides), body, key);
  }

  /** Run directories still on disk; empty whenever no run is in flight. */
  leftoverRunDirs(): string[] {
    return readdirSync(this.runsDir);
  }

  async close(): Promise<void> {
    await this.disconnect();
    delete process.env[`${this.envPrefix}_TOKEN`];
    delete process.env[this.sentinel.name];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
