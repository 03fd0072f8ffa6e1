import { globMatch } from './glob';

describe('globs', () => {
  it.each([
    ['demo/**', 'demo/a/b/c.runbook.sql', true],
    ['demo/*', 'demo/a/b.runbook.sql', false],
    ['demo/*/b.runbook.sql', 'demo/a/b.runbook.sql', true],
    ['demo/**/b.runbook.sql', 'demo/b.runbook.sql', true],
    ['replica-?', 'replica-1', true],
    ['demo.x', 'demoax', false],
    ['a+b', 'a+b', true],
  ])('%s matches %s: %s', (glob, value, expected) => {
    expect(globMatch(glob, value)).toBe(expected);
  });
});
