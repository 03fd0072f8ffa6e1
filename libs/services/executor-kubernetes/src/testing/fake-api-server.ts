import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { parse as parseYaml } from 'yaml';
import { parseLabelSelector } from './label-selector';

/**
 * A local Kubernetes API server for tests, on 127.0.0.1 and a free port, that speaks the
 * real wire protocols the executor uses — not a mock of client-node:
 *
 * - discovery (`/api/v1`, `/apis/<group>/<version>` APIResourceLists);
 * - pods listed with label selectors (equality, inequality, set-based, existence);
 * - server-side apply: `PATCH` with `application/apply-patch+yaml`, `fieldManager`
 *   required, field ownership per manager and `409 Conflict` unless `force=true`,
 *   `201 Created` for a new object; `dryRun=All` validates without storing;
 * - merge and strategic-merge patches, the `scale` subresource, `DELETE`;
 * - exec over WebSocket with the `v5.channel.k8s.io` / `v4.channel.k8s.io` subprotocols:
 *   binary frames whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 the Status
 *   object, 255 close in v5). The command really runs, on this machine, so a test sees the
 *   bytes a script received and what it printed;
 * - bearer-token authentication (401 otherwise).
 *
 * Everything received is recorded, so tests assert the exact requests. Simplifications:
 * apply merges (it never removes fields a manager stopped applying), and a closed exec
 * session kills its process (a kubelet may leave it running).
 */

export type ExecProtocol = 'v5.channel.k8s.io' | 'v4.channel.k8s.io';

export interface FakePod {
  name: string;
  labels?: Record<string, string>;
  containers?: string[];
  annotations?: Record<string, string>;
  phase?: 'Running' | 'Pending' | 'Succeeded' | 'Failed';
  ready?: boolean;
  terminating?: boolean;
  /**
   * `drop`: the session closes after stdin, without a Status (a lost API server connection);
   * `garbage`: the server answers the script with a status frame that is not JSON;
   * `hangup`: the session closes as soon as it opens, before any stdin (a kubelet gone).
   */
  exec?: 'run' | 'drop' | 'garbage' | 'hangup';
  /** Each container's log, as `GET …/pods/{name}/log` returns it (tailLines honoured). */
  logs?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string[]>;
  contentType?: string;
  authorization?: string;
  body: string;
  status: number;
}

export interface RecordedExec {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  query: Record<string, string[]>;
  protocol: string;
  /** Every byte received on channel 0. */
  stdin: Buffer;
  /** v5: the client sent the close signal for stdin (255, 0). */
  stdinClosed: boolean;
  /** The client closed the session before the command ended. */
  closedByClient: boolean;
  /** The server closed the socket without a Status (`dropExecs`: a lost connection). */
  droppedByServer: boolean;
  /** When the session opened, and when its first stdin byte arrived (`performance.now()`). */
  openedAt: number;
  firstStdinAt?: number;
  /** The command has ended and the session is over. */
  done: boolean;
  finished: Promise<void>;
}

/** What the server holds for an exec session it is serving. */
interface LiveExec {
  ws: WebSocket;
  child?: ChildProcess;
}

interface ResourceType {
  group: string;
  version: string;
  name: string;
  kind: string;
  namespaced: boolean;
}

interface StoredObject {
  object: Record<string, unknown>;
  /** Leaf field path (`.spec.replicas`) → the manager that last set it. */
  owners: Map<string, string>;
}

const RESOURCES: ResourceType[] = [
  { group: '', version: 'v1', name: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', name: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', name: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', name: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: '', version: 'v1', name: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: 'apps', version: 'v1', name: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', version: 'v1', name: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  { group: '', version: 'v1', name: 'events', kind: 'Event', namespaced: true },
  { group: 'batch', version: 'v1', name: 'jobs', kind: 'Job', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', name: 'roles', kind: 'Role', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', name: 'clusterroles', kind: 'ClusterRole', namespaced: false },
];
const SCALABLE = new Set(['deployments', 'statefulsets']);

/** An answer that is text, not JSON (a pod's log). */
class PlainText {
  constructor(readonly text: string) {}
}
const MAX_BODY_BYTES = 4 * 1024 * 1024;

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** `deployments.apps`, `pods`: how the API server names a resource in messages. */
function qualified(type: ResourceType): string {
  return type.group ? `${type.name}.${type.group}` : type.name;
}

function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function leafPaths(value: unknown, prefix = ''): Map<string, string> {
  const paths = new Map<string, string>();
  if (isRecord(value)) {
    for (const [key, child] of Object.entries(value)) for (const [p, v] of leafPaths(child, `${prefix}.${key}`)) paths.set(p, v);
  } else {
    paths.set(prefix, JSON.stringify(value));
  }
  return paths;
}

function valueAt(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.').slice(1)) current = isRecord(current) ? current[key] : undefined;
  return current;
}

/** JSON merge patch (RFC 7386); strategic merge behaves the same for the maps tests patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const result: Json = isRecord(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function queryOf(url: URL): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) (query[key] ??= []).push(value);
  return query;
}

/** A key and self-signed certificate for 127.0.0.1 (openssl: node:crypto cannot issue X.509 certificates). */
export interface TlsIdentity {
  key: Buffer;
  cert: Buffer;
}

/** Null when openssl is not installed. */
export function selfSignedCertificate(): TlsIdentity | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rg-k8s-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FakeApiServerOptions {
  /** The bearer token every request must carry. */
  token: string;
  /** Serve https with this identity (the kubeconfig then pins its certificate as the CA). */
  tls?: TlsIdentity;
  /** Subprotocols the server accepts, in its order of preference (default v5, then v4). */
  execProtocols?: ExecProtocol[];
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly execs: RecordedExec[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private readonly logs = new Map<string, Record<string, string>>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // The server picks by its own preference, as the API server does (ws's default takes the client's first).
    handleProtocols: (offered: Set<string>) => this.execProtocols.find((p) => offered.has(p)) ?? false,
  });
  private readonly children = new Set<ChildProcess>();
  private readonly live = new Map<RecordedExec, LiveExec>();
  private resourceVersion = 1000;
  /** Writes (PATCH, DELETE) to these paths get no answer until the client gives up: a hung admission webhook. */
  readonly hangingWrites = new Set<string>();
  /** Subprotocols accepted, in order of preference; tests switch it to emulate an older cluster. */
  execProtocols: ExecProtocol[];
  /** Exec upgrades are answered this much later: a slow kubelet, so a test can act while a session opens. */
  execUpgradeDelayMs = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly token: string,
    execProtocols: ExecProtocol[],
    /** The server's certificate (PEM) when it serves https. */
    readonly certificate?: Buffer,
  ) {
    this.execProtocols = execProtocols;
  }

  static async start(options: FakeApiServerOptions): Promise<FakeApiServer> {
    const server: Server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }) : createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const scheme = options.tls ? 'https' : 'http';
    const fake = new FakeApiServer(server, `${scheme}://127.0.0.1:${port}`, options.token, options.execProtocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'], options.tls?.cert);
    server.on('request', (req, res) => void fake.handle(req, res));
    server.on('upgrade', (req, socket, head) => {
      if (fake.execUpgradeDelayMs > 0) setTimeout(() => fake.upgrade(req, socket, head), fake.execUpgradeDelayMs);
      else fake.upgrade(req, socket, head);
    });
    return fake;
  }

  /**
   * A kubeconfig for this server: over https it trusts the server's own certificate (or
   * `ca`); plain http needs insecure-skip-tls-verify in client-node.
   */
  kubeconfig(token = this.token, url = this.url, ca = this.certificate): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: fake',
      '    cluster:',
      `      server: ${url}`,
      url.startsWith('https:') && ca ? `      certificate-authority-data: ${ca.toString('base64')}` : '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: rungate',
      '    user:',
      `      token: ${token}`,
      'contexts:',
      '  - name: fake',
      '    context: { cluster: fake, user: rungate, namespace: kube-system }',
      'current-context: fake',
      '',
    ].join('\n');
  }

  addPod(namespace: string, pod: FakePod): void {
    const conditions = [{ type: 'Ready', status: pod.ready === false ? 'False' : 'True' }];
    this.put('pods', namespace, pod.name, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: pod.name,
        namespace,
        labels: pod.labels ?? {},
        annotations: pod.annotations ?? {},
        ...(pod.terminating ? { deletionTimestamp: new Date().toISOString() } : {}),
        'x-fake-exec': pod.exec ?? 'run',
      },
      spec: { containers: (pod.containers ?? ['main']).map((name) => ({ name, image: 'busybox' })) },
      status: { phase: pod.phase ?? 'Running', conditions },
    });
    if (pod.logs) this.logs.set(`${namespace}/${pod.name}`, pod.logs);
  }

  /** Stores an object as if `manager` had created it (its fields owned by that manager). */
  seed(object: Json, manager = 'kubectl'): void {
    const metadata = object['metadata'] as Json;
    const type = this.typeOf(String(object['apiVersion']), String(object['kind']));
    if (!type) throw new Error(`fake API server: no resource for ${String(object['kind'])}`);
    const stored = this.put(type.name, type.namespaced ? String(metadata['namespace']) : '', String(metadata['name']), object);
    for (const path of leafPaths(this.ownedPart(object)).keys()) stored.owners.set(path, manager);
    this.writeManagedFields(stored);
  }

  object(kind: string, namespace: string, name: string): Json | undefined {
    const type = RESOURCES.find((t) => t.kind === kind);
    if (!type) return undefined;
    const stored = this.objects.get(this.key(type.name, type.namespaced ? namespace : '', name));
    return stored ? clone(stored.object) : undefined;
  }

  /**
   * Starts a pod's graceful deletion: it is Terminating (a `deletionTimestamp`), still Running,
   * and its exec sessions go on, as during a real pod's termination grace period.
   */
  markTerminating(namespace: string, name: string): void {
    const metadata = this.objects.get(this.key('pods', namespace, name))?.object['metadata'] as Json | undefined;
    if (!metadata) throw new Error(`fake API server: no pod ${namespace}/${name}`);
    metadata['deletionTimestamp'] = new Date().toISOString();
    metadata['resourceVersion'] = String(++this.resourceVersion);
  }

  /** Closes a pod's exec sessions from the server's side without a Status, as a lost connection does. */
  dropExecs(pod: string): void {
    for (const [record, live] of this.live) {
      if (record.pod !== pod) continue;
      record.droppedByServer = true;
      if (live.child) killGroup(live.child);
      live.ws.terminate();
    }
  }

  /** Exec WebSockets open on the server right now. */
  openExecConnections(): number {
    return this.wss.clients.size;
  }

  /** Requests other than discovery and reads: what changed, or would have, on the cluster. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  async close(): Promise<void> {
    for (const child of this.children) killGroup(child);
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private key(resource: string, namespace: string, name: string): string {
    return `${resource}/${namespace}/${name}`;
  }

  private put(resource: string, namespace: string, name: string, object: Json): StoredObject {
    const stored: StoredObject = { object: clone(object), owners: new Map() };
    const metadata = (stored.object['metadata'] ??= {}) as Json;
    metadata['uid'] ??= randomUUID();
    metadata['resourceVersion'] = String(++this.resourceVersion);
    metadata['creationTimestamp'] ??= new Date().toISOString();
    metadata['generation'] ??= 1;
    this.objects.set(this.key(resource, namespace, name), stored);
    return stored;
  }

  private typeOf(apiVersion: string, kind: string): ResourceType | undefined {
    return RESOURCES.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  /** The fields an apply or update sets: everything but identity and status. */
  private ownedPart(object: Json): Json {
    const { apiVersion: _a, kind: _k, status: _s, metadata, ...rest } = object;
    const { name: _n, namespace: _ns, uid: _u, resourceVersion: _rv, creationTimestamp: _c, generation: _g, managedFields: _m, ...meta } = (metadata ?? {}) as Json;
    return Object.keys(meta).length ? { ...rest, metadata: meta } : rest;
  }

  private writeManagedFields(stored: StoredObject): void {
    const managers = [...new Set(stored.owners.values())].sort();
    (stored.object['metadata'] as Json)['managedFields'] = managers.map((manager) => ({ manager, operation: 'Apply', apiVersion: stored.object['apiVersion'], fieldsType: 'FieldsV1' }));
  }

  private authorized(req: IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.token}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) break;
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: queryOf(url),
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      body,
      status: 0,
    };
    this.requests.push(record);
    const [status, answer] = this.authorized(req) ? this.route(record, url) : [401, statusBody(401, 'Unauthorized', 'Unauthorized')];
    record.status = status;
    if (record.method !== 'GET' && this.hangingWrites.has(record.path)) {
      await new Promise((resolve) => res.once('close', resolve));
      return;
    }
    const text = answer instanceof PlainText ? answer.text : JSON.stringify(answer);
    res.writeHead(status, { 'Content-Type': answer instanceof PlainText ? 'text/plain' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** `GET …/pods/{name}/log`, as the kubelet answers through the API server: one container's log, its last lines. */
  private log(namespace: string, name: string, request: RecordedRequest): [number, Json | PlainText] {
    const pod = this.objects.get(this.key('pods', namespace, name));
    if (!pod) return [404, statusBody(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' })];
    const containers = ((pod.object['spec'] as Json)['containers'] as Json[]).map((c) => String(c['name']));
    const asked = request.query['container']?.[0];
    if (asked === undefined && containers.length > 1) {
      return [400, statusBody(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`)];
    }
    const container = asked ?? (containers[0] as string);
    if (!containers.includes(container)) return [400, statusBody(400, 'BadRequest', `container ${container} is not valid for pod ${name}`)];
    if (request.query['previous']?.[0] === 'true') return [400, statusBody(400, 'BadRequest', `previous terminated container "${container}" in pod "${name}" not found`)];
    const lines = (this.logs.get(`${namespace}/${name}`)?.[container] ?? '').split('\n').filter((line, i, all) => line !== '' || i < all.length - 1);
    const tail = Number(request.query['tailLines']?.[0] ?? lines.length);
    return [200, new PlainText(lines.slice(Math.max(0, lines.length - tail)).map((line) => `${line}\n`).join(''))];
  }

  private route(request: RecordedRequest, url: URL): [number, Json | PlainText] {
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [root] = segments;
    let group = '';
    let version: string | undefined;
    let rest: string[];
    if (root === 'api') {
      version = segments[1];
      rest = segments.slice(2);
    } else if (root === 'apis') {
      group = segments[1] ?? '';
      version = segments[2];
      rest = segments.slice(3);
    } else return [404, statusBody(404, 'NotFound', 'the server could not find the requested resource')];
    const served = RESOURCES.filter((t) => t.group === group && t.version === version);
    if (served.length === 0) return [404, statusBody(404, 'NotFound', 'the server could not find the requested resource')];
    if (rest.length === 0 && request.method === 'GET') return [200, this.discovery(group, version as string, served)];
    let namespace = '';
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1] as string;
      rest = rest.slice(2);
    }
    const [resource, name, subresource, ...extra] = rest;
    const type = served.find((t) => t.name === resource);
    if (!type || extra.length > 0 || (type.namespaced && !namespace && name !== undefined)) return [404, statusBody(404, 'NotFound', 'the server could not find the requested resource')];
    const dryRun = request.query['dryRun'];
    if (dryRun && (dryRun.length !== 1 || dryRun[0] !== 'All')) return [400, statusBody(400, 'BadRequest', `dryRun: Unsupported value: "${dryRun.join(',')}": supported values: "All"`)];
    if (name === undefined) {
      if (request.method !== 'GET') return [405, statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')];
      return this.list(type, namespace, request);
    }
    if (subresource === 'scale' && SCALABLE.has(type.name)) return this.scale(type, namespace, name, request);
    if (subresource === 'log' && type.name === 'pods' && request.method === 'GET') return this.log(namespace, name, request);
    if (subresource !== undefined) return [404, statusBody(404, 'NotFound', 'the server could not find the requested resource')];
    switch (request.method) {
      case 'GET': {
        const stored = this.objects.get(this.key(type.name, namespace, name));
        return stored ? [200, clone(stored.object)] : this.notFound(type, name);
      }
      case 'PATCH':
        return this.patch(type, namespace, name, request);
      case 'DELETE':
        return this.delete(type, namespace, name, request);
      default:
        return [405, statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')];
    }
  }

  private discovery(group: string, version: string, served: ResourceType[]): Json {
    const resources = served.flatMap((t) => [
      { name: t.name, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'] },
      ...(SCALABLE.has(t.name) ? [{ name: `${t.name}/scale`, singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }] : []),
      ...(t.name === 'pods' ? [{ name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] }] : []),
    ]);
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
  }

  private notFound(type: ResourceType, name: string): [number, Json] {
    return [404, statusBody(404, 'NotFound', `${qualified(type)} "${name}" not found`, { name, group: type.group, kind: type.name })];
  }

  private list(type: ResourceType, namespace: string, request: RecordedRequest): [number, Json] {
    let matches: (labels: Record<string, string>) => boolean = () => true;
    const selector = request.query['labelSelector']?.[0];
    if (selector) {
      try {
        matches = parseLabelSelector(selector);
      } catch (error) {
        return [400, statusBody(400, 'BadRequest', `unable to parse requirement: ${(error as Error).message}`)];
      }
    }
    // Field selectors: `metadata.name` only (=, == or !=), enough for what the executor asks.
    let fieldMatches: (object: Json) => boolean = () => true;
    const fieldSelector = request.query['fieldSelector']?.[0];
    if (fieldSelector) {
      const terms = fieldSelector.split(',').map((term) => /^metadata\.name(!=|==|=)(.*)$/.exec(term.trim()));
      if (terms.some((term) => term === null)) return [400, statusBody(400, 'BadRequest', `field label not supported: ${fieldSelector}`)];
      fieldMatches = (object) => {
        const name = (object['metadata'] as Json)['name'];
        return terms.every((term) => (term?.[1] === '!=' ? name !== term[2] : name === term?.[2]));
      };
    }
    const prefix = `${type.name}/${namespace}/`;
    const items = [...this.objects.entries()]
      .filter(([key, stored]) => key.startsWith(prefix) && fieldMatches(stored.object) && matches(((stored.object['metadata'] as Json)['labels'] ?? {}) as Record<string, string>))
      .map(([, stored]) => clone(stored.object));
    return [200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(this.resourceVersion) }, items }];
  }

  private parseBody(request: RecordedRequest): Json | [number, Json] {
    try {
      const parsed: unknown = request.contentType === 'application/apply-patch+yaml' ? parseYaml(request.body) : JSON.parse(request.body);
      if (!isRecord(parsed)) throw new Error('not an object');
      return parsed;
    } catch (error) {
      return [400, statusBody(400, 'BadRequest', `error decoding patch: ${(error as Error).message}`)];
    }
  }

  private patch(type: ResourceType, namespace: string, name: string, request: RecordedRequest): [number, Json] {
    const body = this.parseBody(request);
    if (Array.isArray(body)) return body;
    const key = this.key(type.name, namespace, name);
    const existing = this.objects.get(key);
    const dryRun = request.query['dryRun'] !== undefined;
    const manager = request.query['fieldManager']?.[0];
    if (request.contentType === 'application/apply-patch+yaml') return this.apply(type, namespace, name, body, existing, manager, request.query['force']?.[0] === 'true', dryRun);
    if (request.contentType !== 'application/merge-patch+json' && request.contentType !== 'application/strategic-merge-patch+json') {
      return [415, statusBody(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)];
    }
    if (!existing) return this.notFound(type, name);
    const updated = mergePatch(existing.object, body) as Json;
    return this.store(type, namespace, name, existing, updated, manager ?? 'unknown', dryRun, leafPaths(this.ownedPart(body)));
  }

  private apply(type: ResourceType, namespace: string, name: string, body: Json, existing: StoredObject | undefined, manager: string | undefined, force: boolean, dryRun: boolean): [number, Json] {
    if (!manager) return [400, statusBody(400, 'BadRequest', 'PATCH /apply: fieldManager: Required value: is required for apply patch')];
    const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
    if (body['apiVersion'] !== apiVersionOf(type) || body['kind'] !== type.kind) {
      return [400, statusBody(400, 'BadRequest', `the apiVersion/kind of the provided object (${String(body['apiVersion'])} ${String(body['kind'])}) does not match the request (${apiVersionOf(type)} ${type.kind})`)];
    }
    if (metadata['name'] !== name) return [400, statusBody(400, 'BadRequest', 'the name of the object does not match the name on the URL')];
    if (metadata['namespace'] !== undefined && metadata['namespace'] !== namespace) {
      return [400, statusBody(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')];
    }
    const applied = leafPaths(this.ownedPart(body));
    if (existing && !force) {
      const conflicts = [...applied.entries()]
        .filter(([path, value]) => {
          const owner = existing.owners.get(path);
          return owner !== undefined && owner !== manager && JSON.stringify(valueAt(existing.object, path)) !== value;
        })
        .map(([path]) => ({ path, owner: existing.owners.get(path) as string }));
      if (conflicts.length > 0) {
        const list = conflicts.map((c) => `conflict with "${c.owner}": ${c.path}`).join('\n- ');
        return [
          409,
          statusBody(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts.length > 1 ? `\n- ${list}` : list}`, {
            causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.owner}"`, field: c.path })),
          }),
        ];
      }
    }
    const base = existing ? existing.object : { metadata: { namespace: type.namespaced ? namespace : undefined } };
    const merged = mergePatch(base, body) as Json;
    if (!type.namespaced) delete (merged['metadata'] as Json)['namespace'];
    else (merged['metadata'] as Json)['namespace'] = namespace;
    if (!existing) {
      if (dryRun) return [201, merged];
      const stored = this.put(type.name, namespace, name, merged);
      for (const path of applied.keys()) stored.owners.set(path, manager);
      this.writeManagedFields(stored);
      return [201, clone(stored.object)];
    }
    return this.store(type, namespace, name, existing, merged, manager, dryRun, applied);
  }

  /** An update: the resourceVersion moves only when the object (its values or its field managers) changed. */
  private store(type: ResourceType, namespace: string, name: string, existing: StoredObject, updated: Json, manager: string, dryRun: boolean, fields: Map<string, string>): [number, Json] {
    const owners = new Map(existing.owners);
    for (const path of fields.keys()) owners.set(path, manager);
    const candidate: StoredObject = { object: updated, owners };
    this.writeManagedFields(candidate);
    const strip = (o: Json) => JSON.stringify({ ...o, metadata: { ...(o['metadata'] as Json), resourceVersion: undefined, generation: undefined } });
    const changed = strip(candidate.object) !== strip(existing.object);
    if (!changed || dryRun) return [200, clone(candidate.object)];
    const metadata = candidate.object['metadata'] as Json;
    metadata['resourceVersion'] = String(++this.resourceVersion);
    if (JSON.stringify(updated['spec']) !== JSON.stringify(existing.object['spec'])) metadata['generation'] = Number(metadata['generation'] ?? 1) + 1;
    this.objects.set(this.key(type.name, namespace, name), candidate);
    return [200, clone(candidate.object)];
  }

  private delete(type: ResourceType, namespace: string, name: string, request: RecordedRequest): [number, Json] {
    const key = this.key(type.name, namespace, name);
    const existing = this.objects.get(key);
    if (!existing) return this.notFound(type, name);
    if (request.query['dryRun'] === undefined) {
      this.objects.delete(key);
      // The kubelet kills the pod's containers, and with them every process exec started in them.
      if (type.name === 'pods') {
        for (const [record, live] of this.live) if (record.namespace === namespace && record.pod === name && live.child) killGroup(live.child);
      }
    }
    const metadata = existing.object['metadata'] as Json;
    return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: type.group, kind: type.name, uid: metadata['uid'] } }];
  }

  private scale(type: ResourceType, namespace: string, name: string, request: RecordedRequest): [number, Json] {
    const existing = this.objects.get(this.key(type.name, namespace, name));
    if (!existing) return this.notFound(type, name);
    const scaleOf = (object: Json): Json => {
      const spec = (object['spec'] ?? {}) as Json;
      const status = (object['status'] ?? {}) as Json;
      const metadata = object['metadata'] as Json;
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name, namespace, uid: metadata['uid'], resourceVersion: metadata['resourceVersion'] },
        spec: { replicas: spec['replicas'] ?? 1 },
        status: { replicas: status['replicas'] ?? 0 },
      };
    };
    if (request.method === 'GET') return [200, scaleOf(existing.object)];
    if (request.method !== 'PATCH') return [405, statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')];
    if (request.contentType !== 'application/merge-patch+json' && request.contentType !== 'application/strategic-merge-patch+json') {
      return [415, statusBody(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format')];
    }
    const body = this.parseBody(request);
    if (Array.isArray(body)) return body;
    const replicas = (body['spec'] as Json | undefined)?.['replicas'];
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      return [422, statusBody(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`)];
    }
    const updated = mergePatch(existing.object, { spec: { replicas } }) as Json;
    const [status, object] = this.store(type, namespace, name, existing, updated, request.query['fieldManager']?.[0] ?? 'unknown', request.query['dryRun'] !== undefined, new Map([['.spec.replicas', '']]));
    return status === 200 ? [200, scaleOf(object)] : [status, object];
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // The client gave up while the upgrade waited.
    if (socket.destroyed) return;
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = queryOf(url);
    const record: RecordedRequest = { method: 'GET', path: url.pathname, query, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body: '', status: 101 };
    this.requests.push(record);
    const refuse = (status: number, body: Json) => {
      record.status = status;
      const text = JSON.stringify(body);
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    if (!this.authorized(req)) return refuse(401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!match) return refuse(404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, podName] = match as unknown as [string, string, string];
    const pod = this.objects.get(this.key('pods', namespace, podName))?.object;
    if (!pod) return refuse(404, statusBody(404, 'NotFound', `pods "${podName}" not found`, { name: podName, kind: 'pods' }));
    const containers = ((pod['spec'] as Json)['containers'] as { name: string }[]).map((c) => c.name);
    const container = query['container']?.[0] || (containers.length === 1 ? containers[0] : undefined);
    if (!container || !containers.includes(container)) {
      return refuse(400, statusBody(400, 'BadRequest', `container ${container ?? '(none)'} is not valid for pod ${podName}`));
    }
    if ((pod['status'] as Json)['phase'] !== 'Running') return refuse(400, statusBody(400, 'BadRequest', `pod ${podName} is not running`));
    const command = query['command'] ?? [];
    if (command.length === 0) return refuse(400, statusBody(400, 'BadRequest', 'you must specify at least 1 command'));
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const protocol = this.execProtocols.find((p) => offered.includes(p));
    if (!protocol) return refuse(400, statusBody(400, 'BadRequest', `none of the offered subprotocols (${offered.join(', ')}) is supported`));
    const behaviour = (pod['metadata'] as Json)['x-fake-exec'] as NonNullable<FakePod['exec']>;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.exec(ws, { namespace, pod: podName, container, command, query, protocol }, behaviour));
  }

  private exec(ws: WebSocket, session: Pick<RecordedExec, 'namespace' | 'pod' | 'container' | 'command' | 'query' | 'protocol'>, behaviour: NonNullable<FakePod['exec']>): void {
    let resolveFinished: () => void = () => undefined;
    const record: RecordedExec = {
      ...session,
      stdin: Buffer.alloc(0),
      stdinClosed: false,
      closedByClient: false,
      droppedByServer: false,
      openedAt: performance.now(),
      done: false,
      finished: new Promise((resolve) => (resolveFinished = resolve)),
    };
    const finish = () => {
      record.done = true;
      this.live.delete(record);
      resolveFinished();
    };
    this.execs.push(record);
    const live: LiveExec = { ws };
    this.live.set(record, live);
    ws.on('message', (data: Buffer) => {
      if (data[0] === 0 && data.length > 1) record.firstStdinAt ??= performance.now();
    });
    const send = (channel: number, data: Buffer | string) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
    };
    let ended = false;
    const end = (status: Json) => {
      if (ended) return;
      ended = true;
      send(3, JSON.stringify(status));
      ws.close(1000);
      finish();
    };
    if (behaviour === 'hangup') {
      ws.on('message', (data: Buffer) => {
        if (data[0] === 0) record.stdin = Buffer.concat([record.stdin, data.subarray(1)]);
      });
      ws.on('close', () => finish());
      ws.close(1011, 'container gone');
      return;
    }
    if (behaviour === 'garbage') {
      // Once the script arrives (a session may wait for it while the run is admitted).
      ws.once('message', (data: Buffer) => {
        if (data[0] === 0) record.stdin = Buffer.concat([record.stdin, data.subarray(1)]);
        send(3, '{"status": "Succ');
      });
      ws.on('close', () => finish());
      return;
    }
    const [program, ...args] = session.command;
    // Its own process group, so a kill reaches what the script started (a `sleep` holding stdout open).
    const child = spawn(program as string, args, { cwd: tmpdir(), env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), LANG: 'C' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.children.add(child);
    live.child = child;
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => send(1, chunk));
    child.stderr.on('data', (chunk: Buffer) => send(2, chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      end(statusBody(500, 'InternalError', `OCI runtime exec failed: exec failed: unable to start container process: exec: "${program}": ${error.code === 'ENOENT' ? 'executable file not found in $PATH' : error.message}: unknown`));
    });
    child.on('close', (code, signal) => {
      this.children.delete(child);
      if (record.closedByClient) return finish();
      if (code === 0) return end({ metadata: {}, status: 'Success' });
      const exitCode = code ?? 128 + 9;
      end({
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: error executing command [${session.command.join(' ')}], exit code ${exitCode}${signal ? ` (${signal})` : ''}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
      });
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      if (channel === 0) {
        record.stdin = Buffer.concat([record.stdin, data.subarray(1)]);
        child.stdin.write(data.subarray(1));
      } else if (channel === 255 && session.protocol === 'v5.channel.k8s.io' && data[1] === 0) {
        record.stdinClosed = true;
        if (behaviour === 'drop') {
          ended = true;
          killGroup(child);
          ws.terminate();
          finish();
          return;
        }
        child.stdin.end();
      }
    });
    ws.on('close', () => {
      if (ended) return;
      if (!record.droppedByServer) record.closedByClient = true;
      killGroup(child);
    });
  }
}
