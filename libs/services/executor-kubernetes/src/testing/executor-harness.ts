import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunTicketClaims } from '@rungate/contracts';
import type { RunningService } from '@rungate/runtime';
import { ExecutorHarnessBase, connectRecordingBus, freePort, signedRequest, testClaims, type RecordingBus, type SignedRequest } from '@rungate/testing';
import { generateTicketKeyPair, signingKeyFromPem, type SigningKey } from '@rungate/tickets';
import { executorKubernetesDefinition } from '../lib/definition';
import type { ExecutorKubernetesOptions } from '../lib/executor-kubernetes.module';
import { FakeApiServer, selfSignedCertificate, type FakeApiServerOptions, type RecordedExec } from './fake-api-server';

export type { SignedRequest } from '@rungate/testing';

export const NAMESPACE = 'team-a';

export interface HarnessOptions {
  /** Options of the fake API server (its token is generated). */
  fake?: Partial<Omit<FakeApiServerOptions, 'token'>>;
  /** A real cluster instead of the fake: the kubeconfig file, its namespace and exec selector. */
  realCluster?: { kubeconfigFile: string; namespace: string; selector?: string; container?: string; warmSessions?: number };
}

/**
 * Real NATS, a local fake Kubernetes API server (or a real cluster) and executor replicas
 * started in this process, for one test file. rungate.yaml names several connections to the
 * same server; the kubeconfigs are files the connections reference. The AUDIT stream is
 * shared with other test files, so events are recorded as published and tests look only at
 * their own run ids.
 */
export class KubernetesHarness extends ExecutorHarnessBase {
  readonly policyKey: SigningKey;
  readonly foreignKey: SigningKey;
  readonly namespace: string;

  private constructor(
    readonly fake: FakeApiServer | undefined,
    /** The token the fake API server accepts: it must never leave the executor. */
    readonly token: string,
    recording: RecordingBus,
    readonly dir: string,
    readonly configFile: string,
    keys: { policy: string; foreign: string },
    namespace: string,
  ) {
    super('kubernetes', recording);
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

  /**
   * The exec session the last script went to. With warm sessions, the session opened last is
   * usually an idle one waiting for the next run, with nothing on its stdin.
   */
  lastScriptExec(): RecordedExec {
    const exec = [...this.server.execs].reverse().find((e) => e.stdin.length > 0);
    if (!exec) throw new Error('the fake API server received no script');
    return exec;
  }

  static async create(name: string, options: HarnessOptions = {}): Promise<KubernetesHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-k8s-'));
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const fake = options.realCluster ? undefined : await FakeApiServer.start({ token, ...options.fake });
    const policy = generateTicketKeyPair();
    const foreign = generateTicketKeyPair();
    const recording = await connectRecordingBus(`executor-kubernetes-test-${name}`);
    const namespace = options.realCluster?.namespace ?? NAMESPACE;
    const harness = new KubernetesHarness(fake, token, recording, dir, join(dir, 'rungate.yaml'), { policy: policy.privatePem, foreign: foreign.privatePem }, namespace);
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
      const exec =
        (real.selector ? `\n    exec: { selector: ${JSON.stringify(real.selector)}${real.container ? `, container: ${real.container}` : ''} }` : '') +
        (real.warmSessions === undefined ? '' : `\n    warmSessions: ${real.warmSessions}`);
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
${connection('explorable', 'kubeconfig', '    explore: { namespaces: [team-a, team-b] }\n    maxBytes: 4096\n    masking: pii\n')}
${connection('nobody-home', 'kubeconfig', '    exec: { selector: app=nothing-matches }\n')}
${connection('dropper', 'kubeconfig', '    exec: { selector: app=dropper }\n')}
${connection('garbler', 'kubeconfig', '    exec: { selector: app=garbler }\n')}
${connection('hangup', 'kubeconfig', '    exec: { selector: app=hangup }\n')}
${connection('down', 'kubeconfig-down', '    exec: { selector: app=toolbox }\n')}
${connection('wrong-token', 'kubeconfig-wrong-token', '    exec: { selector: app=toolbox }\n')}
${connection('broken', 'kubeconfig-broken', '    exec: { selector: app=toolbox }\n')}
${connection('wrong-ca', 'kubeconfig-wrong-ca', '    exec: { selector: app=toolbox }\n')}
  - name: app-db
    type: postgres
    url: env:RG_K8S_TEST_NEVER_SET
masking:
  - { name: pii, entities: { email: redact, credit_card: mask } }
tickets:
  verifyKeys: [file:${publicKey}]
`;
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  startReplica(options: ExecutorKubernetesOptions = {}): Promise<RunningService> {
    return this.startDefinition(executorKubernetesDefinition(options), this.configFile);
  }

  claims(body: string, path: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
    return testClaims(body, { path, connection: { name: 'cluster', type: 'kubernetes' }, groups: ['sre'], rule: 'sre-kubernetes' }, overrides);
  }

  sign(body: string, path: string, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    return signedRequest(this.claims(body, path, overrides), body, key);
  }

  /** A signed exploration (no runbook; the explore claim) of one read, on connection `explorable`. */
  signRead(read: Record<string, unknown>, overrides: Partial<RunTicketClaims> = {}, key: SigningKey = this.policyKey): SignedRequest {
    const body = JSON.stringify(read);
    const tool = read['read'] === 'logs' ? 'explore_logs' : 'explore_k8s';
    const { runbook: _runbook, ...claims } = this.claims(body, 'explore', { v: 2, readOnly: true, tool, connection: { name: 'explorable', type: 'kubernetes' }, ...overrides });
    return signedRequest({ explore: { tool, session: `ses_${'1'.repeat(24)}` }, ...claims }, body, key);
  }

  async close(): Promise<void> {
    await this.disconnect();
    await this.fake?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
