import { restartTimestamp, workloadPath } from './workload-action';

describe('workload actions', () => {
  it('stamps restarts in RFC 3339 UTC to the second, as kubectl does', () => {
    expect(restartTimestamp(new Date('2026-05-01T12:34:56.789Z'))).toBe('2026-05-01T12:34:56Z');
  });

  it('addresses the workload in the connection\'s namespace, refusing any other', () => {
    const restart = { apiVersion: 'rungate.dev/v1', kind: 'Action', action: 'restart', target: { kind: 'StatefulSet', name: 'db' } } as const;
    expect(workloadPath(restart, 'team-a')).toBe('/apis/apps/v1/namespaces/team-a/statefulsets/db');
    expect(workloadPath({ ...restart, target: { ...restart.target, namespace: 'team-a' } }, 'team-a')).toBe('/apis/apps/v1/namespaces/team-a/statefulsets/db');
    expect(() => workloadPath({ ...restart, target: { ...restart.target, namespace: 'prod' } }, 'team-a')).toThrow('names namespace "prod"');
  });
});
