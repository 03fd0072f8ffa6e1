import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A real git repository in a temporary folder (branch main), for tests of the syncer. */
export class SourceRepository {
  readonly dir = mkdtempSync(join(tmpdir(), 'rg-source-'));

  constructor(files: Record<string, string | null> = {}) {
    this.git(['init', '-q', '-b', 'main']);
    if (Object.keys(files).length) this.commit(files, 'initial runbooks');
  }

  git(args: string[]): string {
    return execFileSync('git', args, {
      cwd: this.dir,
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'],
        HOME: this.dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
      },
    }).trim();
  }

  /** Writes (or, for null, deletes) files and commits; returns the commit id. */
  commit(files: Record<string, string | Buffer | null>, message = 'update runbooks'): string {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      if (content === null) rmSync(full, { force: true });
      else {
        mkdirSync(dirname(full), { recursive: true });
        writeFileSync(full, content);
      }
    }
    this.git(['add', '-A']);
    this.git(['commit', '-q', '--allow-empty', '-m', message]);
    return this.head();
  }

  head(): string {
    return this.git(['rev-parse', 'HEAD']);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function temporaryDir(prefix = 'rg-cache-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
