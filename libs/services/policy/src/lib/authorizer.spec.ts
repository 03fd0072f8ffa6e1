import { describeParameterErrors, runIdFor, strictestApproval } from './authorizer';

const identity = { user: 'alice@example.com', groups: ['engineering'], scope: {} };

describe('authorizer helpers', () => {
  it('derives one run id per user, tool and idempotency key', () => {
    expect(runIdFor(identity, 'demo.pg.x', 'k1')).toBe(runIdFor(identity, 'demo.pg.x', 'k1'));
    expect(runIdFor(identity, 'demo.pg.x', 'k1')).not.toBe(runIdFor(identity, 'demo.pg.x', 'k2'));
    expect(runIdFor({ ...identity, user: 'bob@example.com' }, 'demo.pg.x', 'k1')).not.toBe(runIdFor(identity, 'demo.pg.x', 'k1'));
    expect(runIdFor(identity, 'demo.pg.x')).not.toBe(runIdFor(identity, 'demo.pg.x'));
  });

  it('bounds a refusal whatever the caller sent: ten errors at most, names cut at 64 characters', () => {
    const errors = Array.from({ length: 5000 }, (_, i) => ({ parameter: `${'n'.repeat(100_000)}${i}`, constraint: 'unknown', message: 'is not a parameter of this runbook' }));
    const described = describeParameterErrors(errors);
    expect(described.errors).toHaveLength(10);
    expect(described.errors[0]?.parameter).toBe(`${'n'.repeat(64)}…`);
    expect(described.message).toMatch(/; and 4990 more$/);
    expect(described.message.length).toBeLessThan(1200);
  });

  it('describes a few errors as they are', () => {
    expect(describeParameterErrors([{ parameter: 'note', constraint: 'characters', message: 'must not contain NUL characters' }])).toEqual({
      message: 'note: must not contain NUL characters',
      errors: [{ parameter: 'note', constraint: 'characters', message: 'must not contain NUL characters' }],
    });
  });

  it('holds a run several holds hold by the strictest of them: the largest count, the shortest ttl, any of their groups', () => {
    const approval = strictestApproval([
      { by: 'rule', name: 'prod-writes', approval: { groups: ['sre-leads'], count: 1, ttl: 3_600_000 } },
      { by: 'guardrail', name: 'deletes', approval: { groups: ['dbas', 'sre-leads'], count: 2, ttl: 600_000 }, reason: 'DELETE' },
    ]);
    expect(approval).toEqual({ groups: ['sre-leads', 'dbas'], count: 2, ttl: 600_000 });
  });

  it('combines allGroups if any hold says so, over the union of groups, and break glass only through a group every hold names', () => {
    const rule = { by: 'rule' as const, name: 'prod-writes', approval: { groups: ['sre-leads'], count: 1, ttl: 3_600_000, breakGlassGroups: ['oncall', 'cto'] } };
    const guardrail = { by: 'guardrail' as const, name: 'deletes', approval: { groups: ['dbas'], count: 1, ttl: 3_600_000, allGroups: true, breakGlassGroups: ['cto'] } };
    expect(strictestApproval([rule, guardrail])).toEqual({ groups: ['sre-leads', 'dbas'], count: 1, ttl: 3_600_000, allGroups: true, breakGlassGroups: ['cto'] });
    // A hold without break-glass groups is never released by one approver alone.
    const plain = { by: 'guardrail' as const, name: 'big', approval: { groups: ['dbas'], count: 2, ttl: 600_000 } };
    expect(strictestApproval([rule, plain])).toEqual({ groups: ['sre-leads', 'dbas'], count: 2, ttl: 600_000 });
    expect(strictestApproval([rule])).toEqual(rule.approval);
  });

  it('keeps every hold\'s change window: the run starts only while all are open', () => {
    const office = { days: ['mon' as const, 'tue' as const], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' };
    const night = { days: ['mon' as const], from: '22:00', to: '02:00', timeZone: 'UTC' };
    const rule = { by: 'rule' as const, name: 'prod-writes', approval: { groups: ['sre-leads'], count: 1, ttl: 3_600_000, window: office } };
    const guardrail = { by: 'guardrail' as const, name: 'deletes', approval: { groups: ['dbas'], count: 1, ttl: 3_600_000, window: night } };
    const plain = { by: 'guardrail' as const, name: 'big', approval: { groups: ['dbas'], count: 1, ttl: 3_600_000 } };
    expect(strictestApproval([rule, plain, guardrail]).windows).toEqual([office, night]);
    expect(strictestApproval([plain])).not.toHaveProperty('windows');
  });
});
