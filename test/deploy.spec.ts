import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '..');
const SERVICES = ['gateway', 'git-sync', 'policy', 'audit', 'executor-postgres'];

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
interface Container {
  name: string;
  image: string;
  args: string[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: { cpu?: string; memory?: string } };
  volumeMounts?: { name: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
}
interface Deployment extends Doc {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; volumes?: Volume[] } };
  };
}

const docs: Doc[] = readdirSync(join(ROOT, 'deploy', 'kubernetes'))
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', f), 'utf8')).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS() as Doc;
    }),
  );
const deployments = docs.filter((d): d is Deployment => d.kind === 'Deployment');

describe('Kubernetes manifests', () => {
  it('are well-formed objects in the rungate namespace', () => {
    for (const doc of docs) {
      expect(doc.apiVersion).toMatch(/^(v1|apps\/v1|policy\/v1)$/);
      expect(doc.metadata.name).toMatch(/^[a-z0-9-]+$/);
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace).toBe('rungate');
    }
  });

  it('run one Deployment per service, each selecting its own pods', () => {
    expect(deployments.map((d) => d.spec.template.spec.containers[0]?.args[1]).sort()).toEqual([...SERVICES].sort());
    for (const d of deployments) {
      expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
    }
  });

  it('probe /healthz and /readyz on a declared port and request resources', () => {
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers) {
        const ports = (c.ports ?? []).map((p) => p.name);
        expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz' });
        expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz' });
        expect(ports).toContain(c.readinessProbe?.httpGet?.port);
        expect(c.resources?.requests?.cpu).toBeTruthy();
        expect(c.resources?.requests?.memory).toBeTruthy();
      }
    }
  });

  it('mount only volumes they declare, from ConfigMaps and Secrets that exist', () => {
    const names = new Set(docs.map((d) => `${d.kind}/${d.metadata.name}`));
    for (const d of deployments) {
      const volumes = d.spec.template.spec.volumes ?? [];
      for (const c of d.spec.template.spec.containers) {
        for (const m of c.volumeMounts ?? []) expect(volumes.map((v) => v.name)).toContain(m.name);
      }
      for (const v of volumes) {
        if (v.secret) expect(names).toContain(`Secret/${v.secret.secretName}`);
        if (v.configMap) expect(names).toContain(`ConfigMap/${v.configMap.name}`);
      }
    }
  });

  it('keep each secret in the only service that needs it', () => {
    const holders = (secret: string) =>
      deployments.filter((d) => (d.spec.template.spec.volumes ?? []).some((v) => v.secret?.secretName === secret)).map((d) => d.metadata.name);
    expect(holders('rungate-ticket-signing-key')).toEqual(['rungate-policy']);
    expect(holders('rungate-postgres-connections')).toEqual(['rungate-executor-postgres']);
    expect(holders('rungate-git')).toEqual(['rungate-git-sync']);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { command?: string[]; image?: string; build?: string; volumes?: string[] }>;
  };

  it('runs NATS, PostgreSQL and every service from the one image', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['nats', 'postgres', ...SERVICES]));
    for (const service of SERVICES) expect(compose.services[service]?.command).toEqual(['run', service]);
  });

  it('starts NATS with the config that protects the AUDIT stream', () => {
    expect(compose.services['nats']?.volumes).toContain('./deploy/nats/nats.conf:/etc/nats/nats.conf:ro');
    const conf = readFileSync(join(ROOT, 'deploy', 'nats', 'nats.conf'), 'utf8');
    for (const subject of ['DELETE', 'PURGE', 'MSG.DELETE', 'UPDATE']) expect(conf).toContain(`"$JS.API.STREAM.${subject}.AUDIT"`);
  });
});
