import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SourceRepository, temporaryDir } from '../testing/source-repository';
import { gitEnvironment } from './git-environment';
import { GitMirror, GitOperationError, isBranchName } from './git-mirror';

function mirrorOf(source: SourceRepository, branch = 'main', dir = join(temporaryDir(), 'ops')): GitMirror {
  const environment = gitEnvironment({ name: 'ops', url: source.dir }, { secretsDir: join(dir, '..', '.secrets'), resolveSecret: () => '' });
  return new GitMirror({ dir, branch, environment });
}

describe('GitMirror', () => {
  let source: SourceRepository;
  let mirror: GitMirror;

  beforeEach(() => {
    source = new SourceRepository({ 'runbooks/a.runbook.sql': 'SELECT 1;\n', 'README.md': 'docs\n' });
    mirror = mirrorOf(source);
  });

  afterEach(() => {
    mirror.close();
    source.remove();
  });

  it('sees the remote head with ls-remote, fetches it and lists files at the commit', async () => {
    const head = source.head();
    expect(await mirror.remoteHead()).toBe(head);
    expect(await mirror.hasCommit(head)).toBe(false);
    expect(await mirror.localHead()).toBeUndefined();
    expect(await mirror.fetch()).toBe(head);
    expect(await mirror.hasCommit(head)).toBe(true);
    expect(await mirror.localHead()).toBe(head);
    const files = await mirror.listFiles(head, 'runbooks');
    expect(files.map((f) => f.path)).toEqual(['runbooks/a.runbook.sql']);
    expect(files[0]?.size).toBe(10);
    expect((await mirror.read(`${head}:runbooks/a.runbook.sql`))?.content.toString()).toBe('SELECT 1;\n');
    expect(await mirror.read(`${head}:runbooks/missing.runbook.sql`)).toBeUndefined();
  });

  it('keeps reading old commits after new ones are fetched, with one long-lived reader', async () => {
    const first = source.head();
    await mirror.fetch();
    const second = source.commit({ 'runbooks/a.runbook.sql': 'SELECT 2;\n' });
    expect(await mirror.remoteHead()).toBe(second);
    expect(await mirror.fetch()).toBe(second);
    expect(await mirror.localHead()).toBe(second);
    const [old, current] = await Promise.all([mirror.read(`${first}:runbooks/a.runbook.sql`), mirror.read(`${second}:runbooks/a.runbook.sql`)]);
    expect(old?.content.toString()).toBe('SELECT 1;\n');
    expect(current?.content.toString()).toBe('SELECT 2;\n');
  });

  it('keeps a pinned commit after a force-push drops it from the branch, even through gc', async () => {
    const dir = join(temporaryDir(), 'ops');
    const pinned = mirrorOf(source, 'main', dir);
    await pinned.fetch();
    const dropped = source.commit({ 'runbooks/a.runbook.sql': 'SELECT 3;\n' });
    await pinned.fetch();
    await pinned.pin(dropped);
    source.git(['reset', '-q', '--hard', 'HEAD~1']);
    await pinned.fetch();
    pinned.close();
    execFileSync('git', ['gc', '--prune=now', '--quiet'], { cwd: dir });
    const reopened = mirrorOf(source, 'main', dir);
    expect(await reopened.hasCommit(dropped)).toBe(true);
    expect(await reopened.localHead()).toBe(source.head());
    reopened.close();
  });

  it('reports a missing branch and an unreachable remote as errors', async () => {
    const other = mirrorOf(source, 'release');
    await expect(other.remoteHead()).rejects.toThrow(/branch release does not exist/);
    other.close();
    source.remove();
    await expect(mirror.remoteHead()).rejects.toBeInstanceOf(GitOperationError);
    await expect(mirror.fetch()).rejects.toThrow(/git fetch failed/);
  });

  it('lists only regular files, not symlinks', async () => {
    symlinkSync('/etc/passwd', join(source.dir, 'runbooks', 'link.runbook.sql'));
    const head = source.commit({ 'runbooks/b.runbook.sh': 'echo hi\n' });
    expect(source.git(['ls-tree', '-r', '--name-only', head])).toContain('runbooks/link.runbook.sql');
    await mirror.fetch();
    expect((await mirror.listFiles(head)).map((f) => f.path)).toEqual(['README.md', 'runbooks/a.runbook.sql', 'runbooks/b.runbook.sh']);
  });
});

describe('isBranchName', () => {
  it('accepts ordinary branch names and refuses ones that could bend a refspec or an argument', () => {
    for (const ok of ['main', 'release/2026.1', 'feature_x-1']) expect(isBranchName(ok)).toBe(true);
    for (const bad of ['-upload-pack=x', 'main:refs/heads/evil', 'a..b', '.hidden', 'a/.b', 'x.lock', 'a b', 'a/', '+main', 'a//b']) {
      expect(isBranchName(bad)).toBe(false);
    }
  });
});
