import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunTicketClaims } from '@rungate/contracts';
import type { RunningService } from '@rungate/runtime';
import {
  ExecutorHarnessBase,
  connectRecordingBus,
  freePort,
  signedRequest,
  startSshd,
  testClaims,
  type RecordingBus,
  type SignedRequest,
  type Sshd,
  type SshdOptions,
} from '@rungate/testing';
import { generateTicketKeyPair, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import { executorSshDefinition } from '../lib/definition';
import type { ExecutorSshOptions } from '../lib/executor-ssh.module';

export type { SignedRequest } from '@rungate/testing';

export interface HarnessOptions {
  sshd?: SshdOptions;
  /** Extra connection entries (YAML list items, indented by two spaces) for rungate.yaml. */
  connections?: (h: { sshd: Sshd; dir: string; envPrefix: string }) => string;
}

/**
 * Real NATS, a real sshd with a throwaway user of its own, and executor-ssh replicas started
 * in this process, for one test file. The AUDIT stream is shared with every other test file,
 * so the harness records `audit.run.>` as it is published and tests look only at their own
 * run ids.
 *
 * rungate.yaml names the same host several ways: `host` (key), `host-password`,
 * `host-encrypted-key` (key with a passphrase), `host-bash` (shell /bin/bash), `host-small`
 * (maxBytes 64), `impostor` (pins another server's key), `host-wrong-password`, and `down`
 * (nothing listens).
 */
export class ExecutorHarness extends ExecutorHarnessBase {
  readonly policyKey: SigningKey;

  private constructor(
    readonly sshd: Sshd,
    recording: RecordingBus,
    readonly dir: string,
    readonly configFile: string,
    policyPem: string,
  ) {
    super('ssh', recording);
    this.policyKey = signingKeyFromPem(policyPem);
  }

  static async create(name: string, options: HarnessOptions = {}): Promise<ExecutorHarness> {
    const sshd = await startSshd(options.sshd);
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-ssh-'));
    const policy = generateTicketKeyPair();
    const recording = await connectRecordingBus(`executor-ssh-test-${name}`);
    const envPrefix = `RG_SSH_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
    process.env[`${envPrefix}_PASSWORD`] = sshd.password;
    process.env[`${envPrefix}_WRONG_PASSWORD`] = `${sshd.password}-wrong`;
    process.env[`${envPrefix}_PASSPHRASE`] = sshd.clientKeyPassphrase;
    const verifyKey = join(dir, 'policy.ed25519.pub');
    writeFileSync(verifyKey, policy.publicPem);
    const downPort = await freePort();
    const common = `    host: 127.0.0.1\n    port: ${sshd.port}\n    user: ${sshd.user}\n    hostKey: "${sshd.hostKey}"\n`;
    const configFile = join(dir, 'rungate.yaml');
    writeFileSync(
      configFile,
      `repositories:
  - name: demo
    url: ${dir}
connections:
  - name: host
    type: ssh
${common}    privateKey: file:${sshd.clientKeyFile}
  - name: host-password
    type: ssh
${common}    password: env:${envPrefix}_PASSWORD
  - name: host-encrypted-key
    type: ssh
${common}    privateKey: file:${sshd.encryptedClientKeyFile}
    passphrase: env:${envPrefix}_PASSPHRASE
  - name: host-bash
    type: ssh
${common}    privateKey: file:${sshd.clientKeyFile}
    shell: /bin/bash
  - name: host-small
    type: ssh
${common}    privateKey: file:${sshd.clientKeyFile}
    maxBytes: 64
  - name: host-wrong-password
    type: ssh
${common}    password: env:${envPrefix}_WRONG_PASSWORD
  - name: impostor
    type: ssh
    host: 127.0.0.1
    port: ${sshd.port}
    user: ${sshd.user}
    hostKey: "${sshd.otherHostKey}"
    privateKey: file:${sshd.clientKeyFile}
  - name: down
    type: ssh
    host: 127.0.0.1
    port: ${downPort}
    user: ${sshd.user}
    hostKey: "${sshd.hostKey}"
    privateKey: file:${sshd.clientKeyFile}
    connectTimeout: 5s
${options.connections?.({ sshd, dir, envPrefix }) ?? ''}tickets:
  verifyKeys: [file:${verifyKey}]
`,
    );
    return new ExecutorHarness(sshd, recording, dir, configFile, policy.privatePem);
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  startReplica(options: ExecutorSshOptions = {}): Promise<RunningService> {
    return this.startDefinition(executorSshDefinition(options), this.configFile);
  }

  claims(body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    return testClaims(body, { path: 'ssh/test.runbook.sh', connection: { name: 'host', type: 'ssh' }, groups: ['sre'], rule: 'sre-ssh' }, overrides);
  }

  /** A ticket for `body` on `connection` (default `host`). */
  sign(body: string, overrides: Partial<RunTicketClaims> & { on?: string } = {}): SignedRequest {
    const { on, ...rest } = overrides;
    return signedRequest(this.claims(body, { ...(on ? { connection: { name: on, type: 'ssh' } } : {}), ...rest }), body, this.policyKey);
  }

  async close(): Promise<void> {
    await this.disconnect();
    await this.sshd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
