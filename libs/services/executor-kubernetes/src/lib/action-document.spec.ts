import { MAX_REPLICAS, parseActionDocument } from './action-document';

const scale = (replicas: unknown, target: Record<string, unknown> = { kind: 'Deployment', name: 'web' }) => ({ apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'scale', target, replicas });

describe('the Action document', () => {
  it('takes replicas as a YAML integer or as the quoted digits a rendered parameter becomes', () => {
    expect(parseActionDocument(scale(3))).toMatchObject({ action: 'scale', replicas: 3 });
    expect(parseActionDocument(scale('3'))).toMatchObject({ action: 'scale', replicas: 3 });
    expect(parseActionDocument(scale('0'))).toMatchObject({ replicas: 0 });
  });

  it.each([
    [scale(-1), 'replicas'],
    [scale('-1'), 'replicas'],
    [scale('3; rm'), 'replicas'],
    [scale(1.5), 'replicas'],
    [scale(MAX_REPLICAS + 1), 'replicas'],
    [{ apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'scale', target: { kind: 'Deployment', name: 'web' } }, 'replicas'],
    [scale(1, { kind: 'DaemonSet', name: 'x' }), 'target.kind'],
    [scale(1, { kind: 'Deployment', name: 'Web_1' }), 'target.name'],
    [scale(1, { kind: 'Deployment', name: 'web', container: 'x' }), 'target'],
    [{ apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'delete', target: { kind: 'Deployment', name: 'web' } }, 'action'],
    [{ apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'restart', target: { kind: 'Deployment', name: 'web' }, replicas: 2 }, 'replicas'],
    [{ apiVersion: 'rungate.dev/v2', kind: 'Action', action: 'restart', target: { kind: 'Deployment', name: 'web' } }, 'apiVersion'],
  ])('refuses %j, naming %s', (document, key) => {
    expect(() => parseActionDocument(document)).toThrow(key);
  });
});
