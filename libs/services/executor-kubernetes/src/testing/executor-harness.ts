import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditEvent, ExecResult, execSubject, type RunTicketClaims } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { eventually, freePort } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import type { NatsConnection, Subscription } from 'nats';
import { executorKubernetesDefinition } from '../lib/definition';
import type { ExecutorKubernetesOptions } from '../lib/executor-kubernetes.module';
import { FakeApiServer, selfSignedCertificate, type FakeApiServerOptions, type RecordedExec } from './fake-api-server';

export interface SignedRequest {
  ticket: string;
  body: string;
  runId: string;
  claims: RunTicketClaims;
}

export const NAMESPACE = 'team-a';

export interface HarnessOptions {
  /** Options of the fake API server (its token is generated). */
  fake?: Partial<Omit<FakeApiServerOptions, 'token'>>;
  /** A real cluster instead of the fake: the kubeconfig file, its namespace and exec selector. */
  realCluster?: { kubeconfigFile: string; namespace: string; selector?: string; container?: string };
}

/**
 * Real NATS, a local fake Kubernetes API server (or a real cluster) and executor replicas
 * started in this process, for one test file. rungate.yaml names several connections to the
 * same server; the kubeconfigs are files the connections reference. The AUDIT stream is
 * shared with other test files, so events are recorded as published and tests look only at
 * their own run ids.
 */
export class KubernetesHarness {
  readonly services: RunningService[] = [];
  readonly policyKey: SigningKey;
  readonly foreignKey: SigningKey;
  readonly namespace: string;

  private constructor(
    readonly fake: FakeApiServer | undefined,
    /** The token the fake API server accepts: it must never leave the executor. */
    readonly token: string,
    readonly nc: NatsConnection,
    readonly bus: NatsBus,
    readonly dir: string,
    readonly configFile: string,
    readonly audit: AuditEvent[],
    private readonly subscription: Subscription,
    keys: { policy: string; foreign: string },
    namespace: string,
  ) {
    this.policyKey = signingKeyFromPem(keys.policy);
    this.foreignKey = signingKeyFromPem(keys.foreign);
    this.namespace = namespace;
  }

  /** The fake API server (a real-cluster harness has none). */
  get server(): FakeApiServer {
    if (!this.fake) throw new Error('this harness runs against a real cluster, not the fake API server');
    return this.fake;
  }

  /** The exec session the fake API server received last. */
  lastExec(): RecordedExec {
    const exec = this.server.execs.at(-1);
    if (!exec) throw new Error('the fake API server received no exec session');
    return exec;
  }

  static async create(name: string, options: HarnessOptions = {}): Promise<KubernetesHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-k8s-'));
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const fake = options.realCluster ? undefined : await FakeApiServer.start({ token, ...options.fake });
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const nc = await connectNats({ name: `executor-kubernetes-test-${name}` });
    const events: AuditEvent[] = [];
    const subscription = nc.subscribe('audit.run.>', {
      callback: (error, msg) => {
        if (error) return;
        const parsed = AuditEvent.safeParse(decodeJson(msg.data));
        if (parsed.success) events.push(parsed.data);
      },
    });
    await nc.flush();
    const namespace = options.realCluster?.namespace ?? NAMESPACE;
    const harness = new KubernetesHarness(fake, token, nc, new NatsBus(nc), dir, join(dir, 'rungate.yaml'), events, subscription, { policy: policy.privatePem, foreign: foreign.privatePem }, namespace);
    const publicKey = join(dir, 'policy.ed25519.pub');
    writeFileSync(publicKey, policy.publicPem);
    if (fake) {
      writeFileSync(join(dir, 'kubeconfig'), fake.kubeconfig());
      writeFileSync(join(dir, 'kubeconfig-wrong-token'), fake.kubeconfig('not-the-token'));
      writeFileSync(join(dir, 'kubeconfig-down'), fake.kubeconfig(token, `http://127.0.0.1:${await freePort()}`));
      writeFileSync(join(dir, 'kubeconfig-broken'), `clusters: [\n  - name: x\n    token: ${token}\n`);
      // Over https: a kubeconfig that trusts some other CA than the one that issued the server's certificate.
      const otherCa = fake.certificate ? selfSignedCertificate() : null;
      if (otherCa) writeFileSync(join(dir, 'kubeconfig-wrong-ca'), fake.kubeconfig(token, fake.url, otherCa.cert));
      writeFileSync(harness.configFile, harness.fakeConfig(publicKey));
    } else {
      const real = options.realCluster as NonNullable<HarnessOptions['realCluster']>;
      const exec = real.selector ? `\n    exec: { selector: ${JSON.stringify(real.selector)}${real.container ? `, container: ${real.container}` : ''} }` : '';
      writeFileSync(
        harness.configFile,
        `repositories:\n  - name: demo\n    url: ${dir}\nconnections:\n  - name: cluster\n    type: kubernetes\n    kubeconfig: file:${real.kubeconfigFile}\n    namespace: ${namespace}${exec}\ntickets:\n  verifyKeys: [file:${publicKey}]\n`,
      );
    }
    return harness;
  }

  private fakeConfig(publicKey: string): string {
    const connection = (name: string, kubeconfig: string, extra = '') =>
      `  - name: ${name}\n    type: kubernetes\n    kubeconfig: file:${join(this.dir, kubeconfig)}\n    namespace: ${NAMESPACE}\n${extra}`;
    return `repositories:
  - name: demo
    url: ${this.dir}
connections:
${connection('cluster', 'kubeconfig', '    exec: { selector: "app=toolbox,tier in (ops, debug)" }\n')}
${connection('cluster-tools', 'kubeconfig', '    exec: { selector: app=multi, container: tools }\n')}
${connection('small', 'kubeconfig', '    exec: { selector: app=toolbox }\n    maxBytes: 64\n')}
${connection('no-exec', 'kubeconfig')}
${connection('nobody-home', 'kubeconfig', '    exec: { selector: app=nothing-matches }\n')}
${connection('dropper', 'kubeconfig', '    exec: { selector: app=dropper }\n')}
${connection('garbler', 'kubeconfig', '    exec: { selector: app=garbler }\n')}
${connection('down', 'kubeconfig-down', '    exec: { selector: app=toolbox }\n')}
${connection('wrong-token', 'kubeconfig-wrong-token', '    exec: { selector: app=toolbox }\n')}
${connection('broken', 'kubeconfig-broken', '    exec: { selector: app=toolbox }\n')}
${connection('wrong-ca', 'kubeconfig-wrong-ca', '    exec: { selector: app=toolbox }\n')}
  - name: app-db
    type: postgres
    url: env:RG_K8S_TEST_NEVER_SET
tickets:
  verifyKeys: [file:${publicKey}]
`;
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  async startReplica(options: ExecutorKubernetesOptions = {}): Promise<RunningService> {
    const ctx = await createServiceContext('executor-kubernetes', this.configFile);
    const service = await startService(executorKubernetesDefinition(options), ctx);
    this.services.push(service);
    return service;
  }

  claims(body: string, path: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    const now = Math.floor(Date.now() / 1000);
    return {
      v: 1,
      runId: randomUUID(),
      iat: now,
      exp: now + 30,
      identity: { user: 'alice@example.com', groups: ['sre'], agent: 'claude-code', tokenId: 'tok-1' },
      runbook: { repository: 'demo', path, commit: 'c0ffee0000000000000000000000000000000000', sha256: sha256Hex(body) },
      bodySha256: sha256Hex(body),
      connection: { name: 'cluster', type: 'kubernetes' },
      params: {},
      env: {},
      limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1024 * 1024 },
      readOnly: false,
      dryRun: false,
      rule: 'sre-kubernetes',
      ...overrides,
    };
  }

  sign(body: string, path: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    const claims = this.claims(body, path, overrides);
    return { ticket: signTicket(claims, key), body, runId: claims.runId, claims };
  }

  exec(payload: unknown, timeoutMs = 30_000): Promise<ExecResult> {
    return this.bus.request(execSubject('kubernetes'), payload, ExecResult, { timeoutMs });
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
    await this.fake?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
