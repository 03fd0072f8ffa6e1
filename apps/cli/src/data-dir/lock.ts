import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RungateError } from '@rungate/contracts';

/** Who holds a data directory: written into `<data-dir>/lock` by the holder. */
export interface LockHolder {
  pid: number;
  /** What holds it, as an operator would type it: `rungate serve`, `rungate token list`. */
  command: string;
  since: string;
}

export const lockFile = (dataDir: string) => join(dataDir, 'lock');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else; it still holds the directory.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    return typeof holder.pid === 'number' && Number.isInteger(holder.pid) ? { pid: holder.pid, command: String(holder.command), since: String(holder.since) } : undefined;
  } catch {
    return undefined;
  }
}

/** The live process holding the data directory, if any (a lock left by a dead one is none). */
export function dataDirHolder(dataDir: string): LockHolder | undefined {
  const holder = readHolder(lockFile(dataDir));
  return holder && isAlive(holder.pid) ? holder : undefined;
}

export class DataDirInUse extends RungateError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      'SERVICE_UNAVAILABLE',
      `the data directory ${dataDir} is in use by \`${holder.command}\` (pid ${holder.pid}, since ${holder.since}); ` +
        `stop it or use another --data-dir (if no such process runs, delete ${lockFile(dataDir)})`,
      { pid: holder.pid, command: holder.command },
    );
  }
}

/**
 * One process at a time in a data directory. The embedded database (PGlite) has no lock of
 * its own: two processes opening one directory both succeed and then corrupt it. So whoever
 * opens `<data-dir>/db` — `rungate serve` for its lifetime, a CLI command for its run — holds
 * `<data-dir>/lock` first. The file names the holder's pid; a lock whose process is gone
 * (killed, crashed) is stale and taken over.
 */
export class DataDirLock {
  private released = false;
  private readonly releaseOnExit = () => this.release();

  private constructor(
    readonly dataDir: string,
    private readonly content: string,
  ) {
    process.once('exit', this.releaseOnExit);
  }

  static acquire(dataDir: string, command: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = lockFile(dataDir);
    const content = JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() } satisfies LockHolder);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (createExclusively(file, content)) return new DataDirLock(dataDir, content);
      const holder = readHolder(file);
      if (holder && isAlive(holder.pid)) throw new DataDirInUse(dataDir, holder);
      // Left by a process that is gone (or unreadable): stale.
      rmSync(file, { force: true });
    }
    throw new RungateError('SERVICE_UNAVAILABLE', `could not take ${file}: other processes keep taking it`);
  }

  /** Removes the lock if it is still this process's. Idempotent; also runs at process exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.releaseOnExit);
    const file = lockFile(this.dataDir);
    try {
      if (readFileSync(file, 'utf8') === this.content) unlinkSync(file);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

/**
 * Creates `file` with `content` only if it does not exist, never visible half-written: the
 * content goes to a private temporary file first and is hard-linked into place (link fails
 * when the name exists). Filesystems without hard links fall back to an exclusive create.
 */
function createExclusively(file: string, content: string): boolean {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, content, { mode: 0o600 });
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
    try {
      writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (fallback) {
      if ((fallback as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fallback;
    }
  } finally {
    rmSync(temporary, { force: true });
  }
}
