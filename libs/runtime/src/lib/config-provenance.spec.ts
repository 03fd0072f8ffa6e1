import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configChangeActor, configProvenance, gitBlobId } from './config-provenance';

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'Olga Ops', GIT_AUTHOR_EMAIL: 'olga@example.com', GIT_COMMITTER_NAME: 'CI', GIT_COMMITTER_EMAIL: 'ci@example.com' },
  }).trim();
}

const origin = (file: string) => ({ file, content: readFileSync(file) });

describe('where a reloaded rungate.yaml came from', () => {
  it('names the commit and its author when the loaded bytes are that commit\'s', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rg-provenance-')));
    git(dir, 'init', '-q', '-b', 'main');
    const file = join(dir, 'config', 'rungate.yaml');
    mkdirSync(join(dir, 'config'));
    writeFileSync(file, 'rules: []\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'rules');
    const commit = git(dir, 'rev-parse', 'HEAD');

    const committed = await configProvenance(origin(file));
    expect(committed).toMatchObject({
      file,
      sha256: createHash('sha256').update('rules: []\n').digest('hex'),
      git: { commit, author: 'Olga Ops', authorEmail: 'olga@example.com', path: 'config/rungate.yaml', matchesCommit: true },
      reloadedBy: { uid: process.getuid?.() },
    });
    expect(configChangeActor(committed)).toBe('git:olga@example.com');

    // Edited in place, not committed: the last commit is named, but not as the author of these bytes.
    writeFileSync(file, 'rules: []\nusers: []\n');
    const edited = await configProvenance(origin(file));
    expect(edited.git).toMatchObject({ commit, matchesCommit: false });
    expect(configChangeActor(edited)).toBe(`config-file:${file}`);
  });

  it('says why there is no git provenance outside a work tree, and for a file git does not track', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rg-provenance-')));
    const file = join(dir, 'rungate.yaml');
    writeFileSync(file, 'rules: []\n');
    expect(await configProvenance(origin(file))).toMatchObject({ file, gitUnavailable: 'not in a git work tree' });
    git(dir, 'init', '-q', '-b', 'main');
    const untracked = await configProvenance(origin(file));
    expect(untracked.gitUnavailable).toMatch(/has no commit/);
    expect(configChangeActor(untracked)).toBe(`config-file:${file}`);
  });

  it('computes the blob id git gives the bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-provenance-'));
    const file = join(dir, 'x');
    writeFileSync(file, 'a: 1\n');
    expect(gitBlobId(Buffer.from('a: 1\n'))).toBe(git(dir, 'hash-object', file));
  });
});
