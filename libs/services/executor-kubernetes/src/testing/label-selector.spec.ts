import { parseLabelSelector } from './label-selector';

describe('the fake API server\'s label selectors', () => {
  const labels = { app: 'toolbox', tier: 'ops', 'example.com/team': 'sre' };

  it.each([
    ['app=toolbox', true],
    ['app==toolbox', true],
    ['app!=toolbox', false],
    ['app=toolbox,tier in (ops, debug)', true],
    ['tier notin (ops)', false],
    ['example.com/team', true],
    ['!legacy', true],
    ['!app', false],
    ['app=other', false],
    ['missing!=x', true],
    ['missing in (x)', false],
  ])('%s → %s', (selector, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it('refuses malformed selectors', () => {
    expect(() => parseLabelSelector('app=to olbox')).toThrow();
    expect(() => parseLabelSelector('in (a)')).toThrow();
  });
});
