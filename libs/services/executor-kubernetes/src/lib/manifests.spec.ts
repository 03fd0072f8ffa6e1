import { RungateError } from '@rungate/contracts';
import { assertNamespace, objectRef, parseKubernetesBody } from './manifests';

function refusal(body: string): string {
  try {
    parseKubernetesBody(body);
  } catch (error) {
    expect(error).toBeInstanceOf(RungateError);
    expect((error as RungateError).code).toBe('EXECUTION_FAILED');
    return (error as RungateError).message;
  }
  throw new Error('expected a refusal');
}

describe('parseKubernetesBody', () => {
  it('reads every non-empty document, in order, with its position', () => {
    const parsed = parseKubernetesBody('# @description two objects\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: b, namespace: team-a }\n');

    expect(parsed.kind).toBe('manifests');
    if (parsed.kind !== 'manifests') return;
    expect(parsed.objects.map((o) => [o.document, o.apiVersion, o.kind, o.name, o.namespace])).toEqual([
      [1, 'v1', 'ConfigMap', 'a', undefined],
      [2, 'apps/v1', 'Deployment', 'b', 'team-a'],
    ]);
  });

  it('decodes YAML 1.1 as Kubernetes does: yes/on are booleans, 012 is octal', () => {
    const parsed = parseKubernetesBody('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\ndata: { flag: yes, mode: 012, quoted: "yes" }\n');

    expect(parsed.kind === 'manifests' && parsed.objects[0]?.object['data']).toEqual({ flag: true, mode: 10, quoted: 'yes' });
  });

  it('recognises a rungate.dev/v1 Action document', () => {
    expect(parseKubernetesBody('apiVersion: rungate.dev/v1\nkind: Action\naction: restart\ntarget: { kind: StatefulSet, name: db }\n')).toEqual({
      kind: 'action',
      action: { apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'restart', target: { kind: 'StatefulSet', name: 'db' } },
    });
  });

  it.each([
    ['', 'holds no Kubernetes object'],
    ['# only a comment\n', 'holds no Kubernetes object'],
    ['- a\n- b\n', 'document 1 is not a Kubernetes object'],
    ['kind: ConfigMap\nmetadata: { name: a }\n', 'apiVersion must be'],
    ['apiVersion: v1\nmetadata: { name: a }\n', 'kind must be'],
    ['apiVersion: v1\nkind: ConfigMap\n', 'metadata with a name is required'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { generateName: a- }\n', 'generateName cannot be applied'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { name: "../../secrets" }\n', 'metadata.name must be a Kubernetes object name'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a, namespace: "a/b" }\n', 'not a namespace name'],
    ['apiVersion: v1\nkind: List\nmetadata: { name: a }\nitems: []\n', 'is a list'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n', 'appears twice'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\nmetadata: { name: b }\n', 'not valid YAML (line 4'],
    ['apiVersion: rungate.dev/v1\nkind: Action\naction: restart\ntarget: { kind: Deployment, name: web }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n', 'must be the only document'],
  ])('refuses %j (%s), nothing applied', (body, message) => {
    const text = refusal(body);
    expect(text).toContain(message);
    expect(text).toContain('nothing was applied');
  });

  it('names only the position of a YAML error, never the text around it (it may hold a rendered secret)', () => {
    const text = refusal('apiVersion: v1\nkind: Secret\nmetadata: { name: s }\nstringData:\n  password: "s3cr3t-value\n');

    expect(text).toMatch(/line \d+, column \d+/);
    expect(text).not.toContain('s3cr3t');
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');

    expect(refusal(`apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n${bomb}\n`)).toContain('expands YAML aliases beyond 100');
  });
});

describe('assertNamespace', () => {
  it('accepts no namespace or the connection\'s own, and refuses any other', () => {
    expect(() => assertNamespace(undefined, 'team-a', 'doc')).not.toThrow();
    expect(() => assertNamespace('team-a', 'team-a', 'doc')).not.toThrow();
    expect(() => assertNamespace('kube-system', 'team-a', 'doc')).toThrow('doc names namespace "kube-system", but this connection acts only in namespace "team-a"');
  });
});

describe('objectRef', () => {
  it('names objects as kubectl does', () => {
    expect(objectRef('v1', 'ConfigMap', 'a')).toBe('configmap/a');
    expect(objectRef('apps/v1', 'Deployment', 'web')).toBe('deployment.apps/web');
    expect(objectRef('rbac.authorization.k8s.io/v1', 'Role', 'r')).toBe('role.rbac.authorization.k8s.io/r');
  });
});
