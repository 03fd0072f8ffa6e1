import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RunbookRepository {
  dir: string;
  /** Writes files (path → content) and commits them; returns the new commit id. */
  commit(files: Record<string, string>, message?: string): string;
}

function git(dir: string, args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
    },
  }).trim();
}

/** A real git repository in a temporary folder, on branch main. */
export function createRunbookRepository(files: Record<string, string> = {}): RunbookRepository {
  const dir = mkdtempSync(join(tmpdir(), 'rg-runbooks-'));
  git(dir, ['init', '-q', '-b', 'main']);
  const repository: RunbookRepository = {
    dir,
    commit(changes, message = 'update runbooks') {
      for (const [path, content] of Object.entries(changes)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      git(dir, ['add', '-A']);
      git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
      return git(dir, ['rev-parse', 'HEAD']);
    },
  };
  if (Object.keys(files).length > 0) repository.commit(files, 'initial runbooks');
  return repository;
}
