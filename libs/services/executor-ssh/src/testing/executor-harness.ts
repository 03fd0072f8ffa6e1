import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditEvent, ExecResult, execSubject, type RunTicketClaims } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { eventually, freePort, startSshd, type Sshd, type SshdOptions } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import type { NatsConnection, Subscription } from 'nats';
import { executorSshDefinition } from '../lib/definition';
import type { ExecutorSshOptions } from '../lib/executor-ssh.module';

export interface SignedRequest {
  ticket: string;
  body: string;
  runId: string;
  claims: RunTicketClaims;
}

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
export class ExecutorHarness {
  readonly services: RunningService[] = [];
  readonly policyKey: SigningKey;

  private constructor(
    readonly sshd: Sshd,
    readonly nc: NatsConnection,
    readonly bus: NatsBus,
    readonly dir: string,
    readonly configFile: string,
    /** Every `audit.run.*` event published while the harness runs, from any test file. */
    readonly audit: AuditEvent[],
    private readonly subscription: Subscription,
    policyPem: string,
  ) {
    this.policyKey = signingKeyFromPem(policyPem);
  }

  static async create(name: string, options: HarnessOptions = {}): Promise<ExecutorHarness> {
    const sshd = await startSshd(options.sshd);
    const dir = mkdtempSync(join(tmpdir(), 'rg-executor-ssh-'));
    const policy = generateTicketKeyPair();
    const nc = await connectNats({ name: `executor-ssh-test-${name}` });
    const events: AuditEvent[] = [];
    const subscription = nc.subscribe('audit.run.>', {
      callback: (error, msg) => {
        if (error) return;
        const parsed = AuditEvent.safeParse(decodeJson(msg.data));
        if (parsed.success) events.push(parsed.data);
      },
    });
    await nc.flush();
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
    return new ExecutorHarness(sshd, nc, new NatsBus(nc), dir, configFile, events, subscription, policy.privatePem);
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  async startReplica(options: ExecutorSshOptions = {}): Promise<RunningService> {
    const ctx = await createServiceContext('executor-ssh', this.configFile);
    const service = await startService(executorSshDefinition(options), ctx);
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
      runbook: { repository: 'demo', path: 'ssh/test.runbook.sh', commit: 'c0ffee0000000000000000000000000000000000', sha256: sha256Hex(body) },
      bodySha256: sha256Hex(body),
      connection: { name: 'host', type: 'ssh' },
      params: {},
      env: {},
      limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1024 * 1024 },
      readOnly: false,
      dryRun: false,
      rule: 'sre-ssh',
      ...overrides,
    };
  }

  /** A ticket for `body` on `connection` (default `host`). */
  sign(body: string, overrides: Partial<RunTicketClaims> & { on?: string } = {}): SignedRequest {
    const { on, ...rest } = overrides;
    const claims = this.claims(body, { ...(on ? { connection: { name: on, type: 'ssh' } } : {}), ...rest });
    return { ticket: signTicket(claims, this.policyKey), body, runId: claims.runId, claims };
  }

  exec(payload: unknown, timeoutMs = 30_000): Promise<ExecResult> {
    return this.bus.request(execSubject('ssh'), payload, ExecResult, { timeoutMs });
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

  async close(): Promise<void> {
    for (const service of this.services.splice(0)) await service.close();
    this.subscription.unsubscribe();
    await this.nc.drain();
    await this.sshd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
