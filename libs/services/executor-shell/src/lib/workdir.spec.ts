import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkdir, removeWorkdir } from './workdir';

describe('run directories', () => {
  let base: string;
  beforeAll(() => (base = mkdtempSync(join(tmpdir(), 'rg-shell-workdir-'))));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('are fresh, empty, private (0700) and different for every run', async () => {
    const [a, b] = await Promise.all([createWorkdir(base), createWorkdir(base)]);
    expect(a).not.toBe(b);
    for (const dir of [a as string, b as string]) {
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readdirSync(dir)).toEqual([]);
      await removeWorkdir(dir);
    }
  });

  it('are removed with whatever a script left, even directories it locked itself out of', async () => {
    const dir = await createWorkdir(base);
    mkdirSync(join(dir, 'deep', 'er'), { recursive: true });
    writeFileSync(join(dir, 'deep', 'er', 'file'), 'x');
    chmodSync(join(dir, 'deep', 'er'), 0o000);
    chmodSync(join(dir, 'deep'), 0o000);
    await removeWorkdir(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('removing one that is already gone is fine', async () => {
    const dir = await createWorkdir(base);
    await removeWorkdir(dir);
    await expect(removeWorkdir(dir)).resolves.toBeUndefined();
  });
});
