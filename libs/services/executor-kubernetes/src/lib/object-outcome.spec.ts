import { applyOutcome } from './object-outcome';

const object = (data: Record<string, string>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'a', namespace: 'team-a', uid: 'u1', resourceVersion: '1', managedFields: [{ manager: 'kubectl' }], ...metadata },
  data,
});

describe('applyOutcome', () => {
  it('is created when nothing existed', () => {
    expect(applyOutcome(null, object({ a: '1' }))).toBe('created');
  });

  it('is unchanged when only the resourceVersion, generation, field managers or status moved', () => {
    const after = { ...object({ a: '1' }, { resourceVersion: '2', generation: 2, managedFields: [{ manager: 'kubectl' }, { manager: 'rungate' }] }), status: { ready: true } };
    expect(applyOutcome(object({ a: '1' }), after)).toBe('unchanged');
  });

  it('is configured when a value changed, appeared or disappeared, whatever the key order', () => {
    expect(applyOutcome(object({ a: '1' }), object({ a: '2' }))).toBe('configured');
    expect(applyOutcome(object({ a: '1' }), object({ a: '1', b: '2' }))).toBe('configured');
    expect(applyOutcome(object({ a: '1', b: '2' }), object({ b: '2', a: '1' }))).toBe('unchanged');
    expect(applyOutcome(object({ a: '1' }), object({ a: '1' }, { labels: { x: 'y' } }))).toBe('configured');
  });
});
