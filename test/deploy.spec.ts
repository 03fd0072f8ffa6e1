import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig, type RungateConfig } from '@rungate/config';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { SERVICES } from '../apps/cli/src/commands/run';

/**
 * The deployment files, checked without a cluster or a Docker engine: every Kubernetes
 * manifest against the API's own schema (the models @kubernetes/client-node generates from
 * the OpenAPI spec), then what Rungate needs of them — one Deployment per service the CLI
 * can run, probes, resources, a restricted security context, and each secret mounted only
 * where docs/design.md §2 says it may live. The same for docker-compose.yml, and the Dockerfile and
 * NATS config they start.
 */
const ROOT = join(__dirname, '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
type Service = (typeof SERVICES)[number];
const EXECUTORS = SERVICES.filter((s) => s.startsWith('executor-'));
const CONNECTION_TYPES = EXECUTORS.map((s) => s.slice('executor-'.length));

/** Which secrets each service's pods may hold, and nothing more. */
const SECRETS: Record<Service, string[]> = {
  gateway: ['rungate-nats'],
  'git-sync': ['rungate-git', 'rungate-nats'],
  policy: ['rungate-database', 'rungate-nats', 'rungate-ticket-signing-key'],
  audit: ['rungate-audit-sinks', 'rungate-database', 'rungate-nats'],
  'executor-postgres': ['rungate-nats', 'rungate-postgres-connections'],
  'executor-mysql': ['rungate-mysql-connections', 'rungate-nats'],
  'executor-ssh': ['rungate-nats', 'rungate-ssh-connections'],
  'executor-kubernetes': ['rungate-kubernetes-connections', 'rungate-nats'],
  'executor-shell': ['rungate-nats', 'rungate-shell-connections'],
};

// ---------------------------------------------------------------------------------------
// Kubernetes' own schema, from the generated client models (offline: no cluster, no network)

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
const MODELS = join(ROOT, 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'models');
// The package is ESM-only; a child node process reads the models' attribute maps for us.
const typeMaps = JSON.parse(
  execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import * as k8s from '@kubernetes/client-node';
       const maps = {};
       for (const [name, value] of Object.entries(k8s)) if (typeof value?.getAttributeTypeMap === 'function') maps[name] = value.getAttributeTypeMap();
       process.stdout.write(JSON.stringify(maps));`,
    ],
    { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
  ).toString(),
) as Record<string, Attribute[]>;

const requiredCache = new Map<string, Set<string>>();
/** Fields the OpenAPI spec requires: the ones the generated declaration does not mark optional. */
function requiredFields(model: string): Set<string> {
  let required = requiredCache.get(model);
  if (!required) {
    const declaration = readFileSync(join(MODELS, `${model}.d.ts`), 'utf8');
    const names = [...declaration.matchAll(/^ {4}'([^']+)':/gm)].map((m) => m[1] as string);
    const byName = new Map((typeMaps[model] ?? []).map((a) => [a.name, a.baseName]));
    required = new Set(names.map((n) => byName.get(n) ?? n));
    requiredCache.set(model, required);
  }
  return required;
}

/** Structural check of a value against a generated model type: field names, types, required fields. */
function schemaErrors(value: unknown, type: string, path: string, format = ''): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (type === 'any') return [];
  if (type === 'string' || type === 'Date') return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
  if (type === 'boolean') return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`];
  if (type === 'number') {
    const ok = typeof value === 'number' && (!format.startsWith('int') || Number.isInteger(value));
    return ok ? [] : [`${path}: expected ${format.startsWith('int') ? 'an integer' : 'a number'}, got ${JSON.stringify(value)}`];
  }
  if (type === 'IntOrString') return typeof value === 'string' || Number.isInteger(value) ? [] : [`${path}: expected an int or a string`];
  if (array) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((item, i) => schemaErrors(item, array[1] as string, `${path}[${i}]`, format));
  }
  if (map) {
    if (!isObject) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([k, v]) => schemaErrors(v, map[1] as string, `${path}.${k}`, format));
  }
  const attributes = typeMaps[type];
  if (!attributes) return [`${path}: no schema for ${type}`];
  if (!isObject) return [`${path}: expected an object (${type})`];
  const byBaseName = new Map(attributes.map((a) => [a.baseName, a]));
  const errors = Object.entries(value).flatMap(([key, v]) => {
    const attribute = byBaseName.get(key);
    return attribute ? schemaErrors(v, attribute.type, `${path}.${key}`, attribute.format) : [`${path}.${key}: unknown field of ${type}`];
  });
  for (const field of requiredFields(type)) if (!(field in value)) errors.push(`${path}.${field}: required by ${type}`);
  return errors;
}

/** The model for an object's apiVersion and kind, e.g. apps/v1 Deployment → V1Deployment. */
function modelOf(doc: { apiVersion: string; kind: string }): string {
  const version = doc.apiVersion.split('/').pop() as string;
  return `V${version.slice(1)}${doc.kind}`;
}

// ---------------------------------------------------------------------------------------
// The manifests

const Meta = z.object({ name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() });
const Doc = z.object({ apiVersion: z.string(), kind: z.string(), metadata: Meta }).loose();
type Doc = z.infer<typeof Doc>;

const Probe = z.object({ httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }) }).loose();
const Container = z
  .object({
    name: z.string(),
    image: z.string(),
    args: z.array(z.string()),
    env: z.array(z.object({ name: z.string(), value: z.string().optional(), valueFrom: z.object({ secretKeyRef: z.object({ name: z.string(), key: z.string() }).optional() }).loose().optional() })).default([]),
    envFrom: z.array(z.object({ secretRef: z.object({ name: z.string() }).optional() }).loose()).default([]),
    ports: z.array(z.object({ name: z.string(), containerPort: z.number() })),
    startupProbe: Probe,
    readinessProbe: Probe,
    livenessProbe: Probe,
    resources: z.object({ requests: z.object({ cpu: z.string(), memory: z.string() }), limits: z.object({ memory: z.string() }) }),
    securityContext: z.object({ allowPrivilegeEscalation: z.literal(false), readOnlyRootFilesystem: z.literal(true), capabilities: z.object({ drop: z.array(z.string()) }) }).loose(),
    volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() })),
  })
  .loose();
const Volume = z
  .object({
    name: z.string(),
    secret: z.object({ secretName: z.string(), defaultMode: z.number().optional(), optional: z.boolean().optional() }).optional(),
    configMap: z.object({ name: z.string() }).optional(),
    emptyDir: z.object({}).loose().optional(),
  })
  .strict();
const Deployment = Doc.extend({
  spec: z.object({
    replicas: z.number(),
    selector: z.object({ matchLabels: z.record(z.string(), z.string()) }),
    template: z.object({
      metadata: z.object({ labels: z.record(z.string(), z.string()) }).loose(),
      spec: z
        .object({
          automountServiceAccountToken: z.literal(false),
          securityContext: z.object({ runAsNonRoot: z.literal(true), runAsUser: z.literal(10001), fsGroup: z.literal(10001), seccompProfile: z.object({ type: z.literal('RuntimeDefault') }) }).loose(),
          containers: z.array(Container).length(1),
          volumes: z.array(Volume),
        })
        .loose(),
    }),
  }).loose(),
});
type Deployment = z.infer<typeof Deployment>;

/** Kubernetes reads YAML 1.1 (0440 is octal there), so the manifests are parsed as 1.1 too. */
function readDocs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' }).map((d) => {
    expect(d.errors).toEqual([]);
    return Doc.parse(d.toJS());
  });
}

const Kustomization = z
  .object({
    apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
    kind: z.literal('Kustomization'),
    namespace: z.literal('rungate'),
    resources: z.array(z.string()),
    images: z.array(z.object({ name: z.string(), newName: z.string(), newTag: z.string() }).strict()),
    replicas: z.array(z.object({ name: z.string(), count: z.number().int().min(0) }).strict()),
  })
  .strict();
const kustomization = Kustomization.parse(parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')));
const docs = kustomization.resources.flatMap((f) => readDocs(join(K8S, f)));
const exampleSecrets = readDocs(join(K8S, 'secrets.example.yaml'));
const deployments = docs.filter((d) => d.kind === 'Deployment').map((d) => Deployment.parse(d));
const container = (d: Deployment) => d.spec.template.spec.containers[0] as z.infer<typeof Container>;
const serviceOf = (d: Deployment) => container(d).args[1] as Service;
const deploymentOf = (service: string) => deployments.find((d) => serviceOf(d) === service) as Deployment;

function secretsOf(d: Deployment): string[] {
  const c = container(d);
  const names = [
    ...d.spec.template.spec.volumes.flatMap((v) => (v.secret ? [v.secret.secretName] : [])),
    ...c.env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])),
    ...c.envFrom.flatMap((e) => (e.secretRef ? [e.secretRef.name] : [])),
  ];
  return [...new Set(names)].sort();
}

const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'rungate-config') as Doc & { data: Record<string, string> };
const k8sConfig = parseConfig(configMap.data['rungate.yaml'] as string, 'deploy/kubernetes/config.yaml');

/** The port a service listens on with a given rungate.yaml: its HTTP port, or HEALTH_PORT. */
function listenPort(service: Service, config: RungateConfig, env: Record<string, string | undefined>): number {
  if (service === 'gateway') return Number(env['PORT'] ?? config.gateway.port);
  if (service === 'git-sync') return config.gitSync.port;
  if (service === 'audit') return config.audit.port;
  return Number(env['HEALTH_PORT']);
}

/** Every file: reference in rungate.yaml, with the services that read it (docs/design.md §2, §4). */
function secretFiles(config: RungateConfig): { path: string; readers: Service[] }[] {
  const files: { path: string; readers: Service[] }[] = [];
  const add = (ref: string | undefined, readers: Service[]) => {
    if (ref?.startsWith('file:')) files.push({ path: ref.slice('file:'.length), readers });
  };
  for (const c of config.connections) {
    const executor = `executor-${c.type}` as Service;
    for (const value of Object.values(c).flatMap((v) => (typeof v === 'object' && v !== null ? Object.values(v) : [v]))) {
      if (typeof value === 'string') add(value, [executor]);
    }
  }
  for (const r of config.repositories) [r.auth?.token, r.auth?.sshKey, r.auth?.knownHosts, r.webhookSecret].forEach((ref) => add(ref, ['git-sync']));
  add(config.tickets.signingKey, ['policy']);
  config.tickets.verifyKeys.forEach((ref) => add(ref, [...EXECUTORS]));
  return files;
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('are listed in kustomization.yaml, every file and only those, with secrets kept out', () => {
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'secrets.example.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(docs.filter((d) => d.kind === 'Secret')).toEqual([]);
  });

  it('match the Kubernetes API schema: known fields, right types, required fields present', () => {
    const errors = [...docs, ...exampleSecrets].flatMap((doc) => schemaErrors(doc, modelOf(doc), `${doc.kind}/${doc.metadata.name}`));
    expect(errors).toEqual([]);
  });

  it('catch a misspelt or mistyped field (the schema check is not vacuous)', () => {
    const gateway = structuredClone(deploymentOf('gateway')) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
    gateway.spec.template.spec['contianers'] = [];
    gateway.spec.template.spec['terminationGracePeriodSeconds'] = '30';
    expect(schemaErrors(gateway, 'V1Deployment', 'gateway')).toEqual([
      'gateway.spec.template.spec.contianers: unknown field of V1PodSpec',
      'gateway.spec.template.spec.terminationGracePeriodSeconds: expected an integer, got "30"',
    ]);
    expect(schemaErrors({ metadata: { name: 'x' }, spec: { ports: [{}] } }, 'V1Service', 's')).toEqual(['s.spec.ports[0].port: required by V1ServicePort']);
  });

  it('live in the rungate namespace, which enforces the restricted Pod Security Standard', () => {
    for (const doc of docs) if (doc.kind !== 'Namespace') expect(doc.metadata.namespace).toBe('rungate');
    const namespace = docs.find((d) => d.kind === 'Namespace');
    expect(namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('run one Deployment per service the CLI can run, from the one image, each selecting its own pods', () => {
    expect(deployments.map(serviceOf).sort()).toEqual([...SERVICES].sort());
    const images = new Set(kustomization.images.map((i) => i.name));
    for (const d of deployments) {
      const c = container(d);
      expect(images.has(c.image)).toBe(true);
      expect(c.args).toEqual(['run', serviceOf(d)]);
      expect(d.metadata.name).toBe(`rungate-${serviceOf(d)}`);
      expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
    }
    const selectors = deployments.map((d) => JSON.stringify(d.spec.selector.matchLabels));
    expect(new Set(selectors).size).toBe(deployments.length);
  });

  it('give every Deployment a replica count in kustomization.yaml, each executor type its own', () => {
    expect(kustomization.replicas.map((r) => r.name).sort()).toEqual(deployments.map((d) => d.metadata.name).sort());
    for (const executor of EXECUTORS) expect(kustomization.replicas.find((r) => r.name === `rungate-${executor}`)?.count).toBeGreaterThanOrEqual(1);
  });

  it('probe /healthz and /readyz on the port the service listens on, and request resources', () => {
    for (const d of deployments) {
      const c = container(d);
      const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
      const http = c.ports.find((p) => p.name === 'http');
      expect(http?.containerPort).toBe(listenPort(serviceOf(d), k8sConfig, env));
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(env['RUNGATE_CONFIG']).toBe('/etc/rungate/config/rungate.yaml');
    }
  });

  it('run as uid 10001 with no privileges, no capabilities, no service account token and a read-only root', () => {
    for (const d of deployments) {
      const c = container(d);
      expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
      // Only the kinds of volume the restricted standard allows, and only emptyDir is writable.
      for (const m of c.volumeMounts) {
        const volume = d.spec.template.spec.volumes.find((v) => v.name === m.name);
        expect(volume).toBeDefined();
        if (!volume?.emptyDir) expect(m.readOnly).toBe(true);
      }
      for (const v of d.spec.template.spec.volumes) if (v.secret) expect(v.secret.defaultMode).toBe(0o440);
    }
  });

  it('keep each secret in the only services that use it: connection credentials only in their executor', () => {
    for (const d of deployments) expect({ [serviceOf(d)]: secretsOf(d) }).toEqual({ [serviceOf(d)]: SECRETS[serviceOf(d)] });
    const declared = new Set(exampleSecrets.map((s) => s.metadata.name));
    for (const name of Object.values(SECRETS).flat()) expect(declared).toContain(name);
    const verifyKeyHolders = deployments.filter((d) => d.spec.template.spec.volumes.some((v) => v.configMap?.name === 'rungate-ticket-verify-keys'));
    expect(verifyKeyHolders.map(serviceOf).sort()).toEqual([...EXECUTORS].sort());
  });

  it('mount every secret file rungate.yaml refers to in exactly the pods that read it', () => {
    const files = secretFiles(k8sConfig);
    expect(files.map((f) => f.readers[0])).toEqual(expect.arrayContaining(['git-sync', 'policy', ...EXECUTORS]));
    for (const { path, readers } of files) {
      const holders = deployments.filter((d) => container(d).volumeMounts.some((m) => under(path, m.mountPath) && m.mountPath !== '/tmp'));
      expect({ path, holders: holders.map(serviceOf).sort() }).toEqual({ path, holders: [...readers].sort() });
    }
  });

  it('configure every service to listen where probes and Services reach it', () => {
    expect(k8sConfig.gateway.host).toBe('0.0.0.0');
    expect(k8sConfig.connections.map((c) => c.type).sort()).toEqual([...CONNECTION_TYPES].sort());
  });

  it('expose the gateway, git-sync webhooks and the audit API through Services on declared ports', () => {
    const services = docs.filter((d) => d.kind === 'Service') as (Doc & { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } })[];
    const exposed = services.map((s) => serviceOf(deployments.find((d) => Object.entries(s.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v)) as Deployment));
    expect(exposed.sort()).toEqual(['audit', 'gateway', 'git-sync']);
    for (const s of services) for (const p of s.spec.ports) expect(p.targetPort).toBe('http');
  });

  it('keep a gateway and a policy serving through voluntary disruptions', () => {
    const budgets = docs.filter((d) => d.kind === 'PodDisruptionBudget') as (Doc & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } })[];
    for (const service of ['gateway', 'policy']) {
      const d = deploymentOf(service);
      const budget = budgets.find((b) => JSON.stringify(b.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels));
      expect(budget?.spec.minAvailable).toBeGreaterThanOrEqual(1);
      expect(d.spec.replicas).toBeGreaterThan(budget?.spec.minAvailable ?? Infinity);
    }
  });

  it('admit traffic only on each pod\'s declared http port', () => {
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy') as (Doc & { spec: { ingress: { ports: { port: string }[] }[] } })[];
    expect(policies.length).toBeGreaterThan(0);
    for (const p of policies) for (const rule of p.spec.ingress) expect(rule.ports.map((port) => port.port)).toEqual(['http']);
  });
});

// ---------------------------------------------------------------------------------------
// docker-compose.yml

const ComposeService = z
  .object({
    image: z.string(),
    command: z.array(z.string()).optional(),
    environment: z.record(z.string(), z.string()).default({}),
    volumes: z.array(z.string()).default([]),
    depends_on: z.record(z.string(), z.object({ condition: z.string() })).default({}),
    healthcheck: z.object({ test: z.array(z.string()) }).loose(),
    deploy: z.object({ replicas: z.number().int().min(0) }).optional(),
    read_only: z.boolean().optional(),
    cap_drop: z.array(z.string()).optional(),
  })
  .loose();
const compose = z
  .object({ services: z.record(z.string(), ComposeService), volumes: z.record(z.string(), z.unknown()).default({}) })
  .loose()
  .parse(parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }));
const composeConfigDir = join(ROOT, 'deploy', 'compose', 'config');
const composeConfig = parseConfig(readFileSync(join(composeConfigDir, 'rungate.yaml'), 'utf8'), 'deploy/compose/config/rungate.yaml');
const svc = (name: string) => compose.services[name] as z.infer<typeof ComposeService>;
/** Bind mounts as [host, container] pairs. */
const mounts = (name: string) => svc(name).volumes.map((v) => v.split(':') as [string, string, string?]);

describe('docker-compose.yml', () => {
  it('runs NATS, PostgreSQL and every service the CLI can run, all from one image', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['nats', 'postgres', ...SERVICES].sort());
    const images = new Set(SERVICES.map((s) => svc(s).image));
    expect(images.size).toBe(1);
    for (const service of SERVICES) {
      expect(svc(service).command).toEqual(['run', service]);
      expect(svc(service)).toMatchObject({ read_only: true, cap_drop: ['ALL'], build: '.' });
    }
  });

  it('gives every executor type its own replica count', () => {
    for (const executor of EXECUTORS) expect(svc(executor).deploy?.replicas).toBeGreaterThanOrEqual(1);
  });

  it('checks every container\'s health, rungate services on the port they listen on', () => {
    for (const service of SERVICES) {
      const port = listenPort(service, composeConfig, svc(service).environment);
      expect(svc(service).healthcheck.test).toEqual(['CMD', 'node', '/opt/rungate/healthcheck.js', `http://127.0.0.1:${port}/readyz`]);
    }
    expect(svc('nats').healthcheck.test.join(' ')).toContain('8222/healthz');
    expect(svc('postgres').healthcheck.test).toContain('pg_isready');
  });

  it('starts a service only after what it needs is healthy', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on)) {
        expect({ name, dependency, condition }).toEqual({ name, dependency, condition: 'service_healthy' });
        expect(compose.services[dependency]?.healthcheck).toBeDefined();
      }
    }
    for (const service of SERVICES) expect(Object.keys(svc(service).depends_on)).toContain('nats');
    expect(Object.keys(svc('policy').depends_on)).toContain('postgres');
  });

  it('gives DATABASE_URL only to policy and audit, and NATS_URL to every service', () => {
    expect(SERVICES.filter((s) => svc(s).environment['DATABASE_URL']).sort()).toEqual(['audit', 'policy']);
    for (const service of SERVICES) {
      expect(svc(service).environment['NATS_URL']).toMatch(/^nats:\/\/rungate:\$\{RUNGATE_NATS_PASSWORD:\?[^}]+\}@nats:4222$/);
      expect(svc(service).environment['RUNGATE_CONFIG']).toBe('/etc/rungate/config/rungate.yaml');
    }
  });

  it('refuses to start without passwords instead of falling back to a default one', () => {
    const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    const variables = [...text.matchAll(/\$\{([A-Z_]+)(:?[-?])?/g)].map((m) => ({ name: m[1], operator: m[2] }));
    expect(variables.length).toBeGreaterThan(0);
    for (const v of variables) expect(v).toEqual({ name: v.name, operator: ':?' });
    const documented = readFileSync(join(ROOT, 'deploy', 'compose', 'env.example'), 'utf8');
    for (const v of variables) expect(documented).toContain(`${v.name}=`);
  });

  it('mounts every secret file rungate.yaml refers to in exactly the containers that read it', () => {
    expect(composeConfig.gateway.host).toBe('0.0.0.0');
    for (const { path, readers } of secretFiles(composeConfig)) {
      const holders = SERVICES.filter((s) => mounts(s).some(([host, target]) => host.startsWith('./deploy/compose/secrets/') && under(path, target)));
      expect({ path, holders: holders.sort() }).toEqual({ path, holders: [...readers].sort() });
    }
    for (const service of SERVICES) {
      for (const [host, target, mode] of mounts(service)) {
        if (host.startsWith('./')) expect({ service, target, mode }).toEqual({ service, target, mode: 'ro' });
        if (host.includes('/connections/')) expect(service).toBe(`executor-${host.split('/').pop()}`);
      }
    }
    expect(mounts('policy').map(([host]) => host)).toContain('./deploy/compose/secrets/keys');
    for (const service of SERVICES.filter((s) => s !== 'policy')) expect(mounts(service).map(([host]) => host)).not.toContain('./deploy/compose/secrets/keys');
  });

  it('starts NATS with the config that protects the AUDIT stream', () => {
    expect(mounts('nats')).toContainEqual(['./deploy/nats/nats.conf', '/etc/nats/nats.conf', 'ro']);
    expect(svc('nats').command).toEqual(['-c', '/etc/nats/nats.conf']);
  });
});

// ---------------------------------------------------------------------------------------
// NATS, the image, the healthcheck, the metrics operators are told about

describe('deploy/nats/nats.conf', () => {
  const conf = readFileSync(join(ROOT, 'deploy', 'nats', 'nats.conf'), 'utf8');
  const serviceUser = conf.slice(conf.indexOf('user: rungate'), conf.indexOf('user: operator'));

  it('denies the service user every API call that deletes, purges or rewrites the AUDIT stream', () => {
    for (const api of ['STREAM.DELETE', 'STREAM.PURGE', 'STREAM.MSG.DELETE', 'STREAM.UPDATE', 'STREAM.RESTORE']) {
      expect(serviceUser).toContain(`"$JS.API.${api}.AUDIT"`);
    }
  });

  it('keeps passwords out of the file', () => {
    expect([...conf.matchAll(/password:\s*(\S+)/g)].map((m) => m[1])).toEqual(['$RUNGATE_NATS_PASSWORD', '$RUNGATE_NATS_OPERATOR_PASSWORD']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages[stages.length - 1] as string;

  it('builds the CLI and its libraries in one stage and ships only production dependencies and dist/', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/npm ci /);
    // npm run build: the compiled tree, and the PGlite template `rungate serve` starts a new database from.
    expect(stages[0]).toMatch(/npm run build/);
    const build = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.build as string;
    expect(build).toBe('node scripts/build.js');
    expect(readFileSync(join(ROOT, 'scripts', 'build.js'), 'utf8')).toContain("require('./pglite-template')");
    expect(stages[0]).toMatch(/npm prune --omit=dev/);
    for (const path of ['node_modules', 'dist', 'bin']) expect(final).toContain(`COPY --from=build /src/${path} ./${path}`);
  });

  it('runs `rungate` as uid 10001 with the command choosing the service', () => {
    expect(final).toMatch(/^USER 10001(:10001)?$/m);
    expect(final).toContain('ENTRYPOINT ["tini", "--", "node", "/opt/rungate/bin/rungate.js"]');
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(final)?.[1] ?? '[]') as string[];
    expect(cmd[0]).toBe('run');
    expect(SERVICES).toContain(cmd[1]);
    expect(existsSync(join(ROOT, 'bin', 'rungate.js'))).toBe(true);
  });

  it('carries git for git-sync and the healthcheck compose calls', () => {
    expect(final).toMatch(/apt-get install[^\n]* git openssh-client ca-certificates tini/);
    expect(final).toContain('COPY deploy/healthcheck.js ./healthcheck.js');
    expect(final).toContain('WORKDIR /opt/rungate');
  });

  it('keeps credentials and local state out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', 'dist', '.rungate', '**/.env', 'deploy/compose/secrets']) expect(ignored).toContain(entry);
  });
});

describe('deploy/healthcheck.js', () => {
  let server: Server;
  let base: string;
  const run = promisify(execFile);
  const check = (url: string) =>
    run(process.execPath, [join(ROOT, 'deploy', 'healthcheck.js'), url]).then(
      () => 0,
      (error: { code?: number }) => error.code,
    );

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('is healthy on a 2xx answer and unhealthy on an error status or no answer', async () => {
    expect(await check(`${base}/readyz`)).toBe(0);
    expect(await check(`${base}/not-ready`)).toBe(1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await check(`http://127.0.0.1:${port}/readyz`)).toBe(1);
  });
});

/** Where Prometheus metrics are declared: each library's metrics.ts. */
function metricSources(dir = join(ROOT, 'libs')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : metricSources(path);
    return entry.name === 'metrics.ts' ? [path] : [];
  });
}

describe('deploy/README.md', () => {
  const readme = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');

  it('names only metrics that the services define', () => {
    const named = [...new Set([...readme.matchAll(/`(rungate_[a-z_]+)`/g)].map((m) => m[1] as string))];
    const defined = new Set(metricSources().flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/name: '(rungate_[a-z_]+)'/g)].map((m) => m[1])));
    expect(named.length).toBeGreaterThanOrEqual(6);
    for (const name of named) expect(defined).toContain(name);
  });

  it('explains every file in deploy/', () => {
    const files = ['docker-compose.yml', 'Dockerfile', ...readdirSync(K8S), 'nats.conf', 'healthcheck.js', 'env.example', 'rungate.yaml'];
    for (const file of files) expect(readme).toContain(file);
  });
});
