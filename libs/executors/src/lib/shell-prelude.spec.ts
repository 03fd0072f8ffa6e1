import { execFileSync } from 'node:child_process';
import { shellPrelude } from './shell-prelude';

describe('shellPrelude', () => {
  const hostile = ["it's", '$(touch /tmp/x)', '`id`', 'a\nb', '\\', '"; exit 1; "', "'; rm -rf / #", '${HOME}', 'ünïcødé ＇'];

  it('exports every value so that sh reads it back byte for byte', () => {
    const env = Object.fromEntries(hostile.map((v, i) => [`V${i}`, v]));
    const script = `${shellPrelude(env)}${hostile.map((_, i) => `printf '%s\\0' "$V${i}"`).join('\n')}\n`;
    const out = execFileSync('/bin/sh', ['-s'], { input: script, env: {} }).toString('utf8');
    expect(out.split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('refuses names that are not shell identifiers and values with NUL', () => {
    expect(() => shellPrelude({ 'A;B': 'x' })).toThrow(/not a shell identifier/);
    expect(() => shellPrelude({ A: 'x\0y' })).toThrow(/NUL/);
  });

  it('is empty without variables', () => {
    expect(shellPrelude({})).toBe('');
  });
});
