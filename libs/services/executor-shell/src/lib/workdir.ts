import { chmod, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'rungate-run-';

/**
 * A fresh, private working directory for one run (also its HOME and TMPDIR): mkdtemp(3)
 * makes it 0700 (a umask can only take permissions away), so other users of the executor
 * host cannot read what a script writes there.
 */
export function createWorkdir(base: string = tmpdir()): Promise<string> {
  return mkdtemp(join(base, PREFIX));
}

/** Gives the owner full access to every directory below `dir`, so none can block removal. */
async function unlock(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  await Promise.all(entries.filter((entry) => entry.isDirectory()).map((entry) => unlock(join(dir, entry.name))));
}

/**
 * Removes a run's directory whatever the script left in it — including directories it made
 * unreadable (`chmod 000`), which a plain recursive remove cannot enter. Throws only if the
 * directory is still there afterwards.
 */
export async function removeWorkdir(dir: string): Promise<void> {
  try {
    // Most scripts leave nothing behind: one rmdir instead of a recursive walk.
    await rmdir(dir);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
  }
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    await unlock(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
  }
}
