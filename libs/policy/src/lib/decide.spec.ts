import type { RuleConfig } from '@rungate/config';
import type { Identity } from '@rungate/contracts';
import { decide, explain, permits } from './decide';

const alice: Identity = { user: 'alice@example.com', groups: ['engineering'], agent: 'claude', scope: {} };
const rules: RuleConfig[] = [
  { name: 'eng-read', groups: ['engineering'], connections: ['replica-*'], runbooks: ['demo/postgres/**'] },
  { name: 'eng-region', groups: ['engineering'], connections: ['primary'], runbooks: ['demo/postgres/update_*.runbook.sql'], params: { region: ['eu', 'us'] } },
];

describe('decide', () => {
  it('allows when group, connection and runbook all match a rule', () => {
    expect(decide({ identity: alice, runbook: 'demo/postgres/get_user.runbook.sql', connection: 'replica-1' }, rules)).toEqual({
      effect: 'allow',
      rule: 'eng-read',
    });
  });

  it('denies by default, including when there are no rules', () => {
    const subject = { identity: alice, runbook: 'demo/postgres/get_user.runbook.sql', connection: 'replica-1' };
    expect(decide(subject, [])).toMatchObject({ effect: 'deny', family: 'no-rule' });
    expect(decide({ ...subject, connection: 'primary' }, rules)).toMatchObject({ effect: 'deny' });
    expect(decide({ ...subject, identity: { ...alice, groups: ['sales'] } }, rules)).toMatchObject({ effect: 'deny', family: 'no-rule' });
  });

  it('narrows by the token scope, never widens', () => {
    const scoped = { ...alice, scope: { runbooks: ['demo/postgres/other*'] } };
    expect(decide({ identity: scoped, runbook: 'demo/postgres/get_user.runbook.sql', connection: 'replica-1' }, rules)).toMatchObject({
      effect: 'deny',
      family: 'token-scope',
    });
    const wide = { ...alice, scope: { connections: ['*'] } };
    expect(decide({ identity: wide, runbook: 'demo/postgres/get_user.runbook.sql', connection: 'primary' }, rules).effect).toBe('deny');
  });

  it('checks parameter conditions on call, and lists the tool when values are unknown', () => {
    const subject = { identity: alice, runbook: 'demo/postgres/update_email.runbook.sql', connection: 'primary' };
    expect(decide(subject, rules).effect).toBe('allow');
    expect(decide({ ...subject, params: { region: 'eu' } }, rules).effect).toBe('allow');
    expect(decide({ ...subject, params: { region: 'apac' } }, rules)).toMatchObject({ effect: 'deny', family: 'params' });
  });

  it('answers approval_required when the deciding rule has approval:, and lists the tool as it does an allowed one', () => {
    const approval = { groups: ['sre-leads'], count: 2, ttl: 3_600_000 };
    const held: RuleConfig[] = [{ name: 'prod-writes', groups: ['engineering'], connections: ['primary'], runbooks: ['demo/postgres/**'], approval }, ...rules];
    const subject = { identity: alice, runbook: 'demo/postgres/update_email.runbook.sql', connection: 'primary' };
    const decision = decide(subject, held);
    expect(decision).toEqual({ effect: 'approval_required', rule: 'prod-writes', approval });
    expect(permits(decision)).toBe(true);
    expect(permits(decide({ ...subject, connection: 'nowhere' }, held))).toBe(false);
    // The first matching rule decides, also when a later one would allow without approval.
    expect(decide({ ...subject, connection: 'replica-1' }, held)).toEqual({ effect: 'allow', rule: 'eng-read' });
  });

  it('never names another rule in a denial', () => {
    const denial = decide({ identity: alice, runbook: 'demo/ssh/x.runbook.sh', connection: 'replica-1' }, rules);
    expect(denial.effect === 'deny' && denial.reason).not.toMatch(/eng-read|eng-region/);
  });
});

describe('explain', () => {
  it('gives the deciding rule and why every other rule missed', () => {
    const result = explain({ identity: alice, runbook: 'demo/postgres/update_x.runbook.sql', connection: 'primary', params: { region: 'apac' } }, rules);
    expect(result.decision).toMatchObject({ effect: 'deny', family: 'params' });
    expect(result.rules).toEqual([
      { name: 'eng-read', matches: false, miss: 'connection' },
      { name: 'eng-region', matches: false, miss: 'params' },
    ]);
  });
});
