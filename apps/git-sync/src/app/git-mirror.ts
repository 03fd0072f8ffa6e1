import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveSecret, type RepositoryConfig } from '@rungate/config';
import { RungateError } from '@rungate/contracts';
import { simpleGit, type SimpleGit } from 'simple-git';

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Git credentials go through the environment (GIT_CONFIG_* and GIT_SSH_COMMAND), never the
 * URL or argv, so they cannot show up in process lists, logs or error messages.
 */
export function gitEnvironment(repository: RepositoryConfig, scratch: () => string): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  const auth = repository.auth;
  if (auth?.token) {
    const token = resolveSecret(auth.token);
    env['GIT_CONFIG_COUNT'] = '1';
    env['GIT_CONFIG_KEY_0'] = 'http.extraHeader';
    env['GIT_CONFIG_VALUE_0'] = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }
  if (auth?.sshKey) {
    if (!auth.knownHosts) throw new Error(`repository ${repository.name}: sshKey needs knownHosts (no trust on first use)`);
    const materialize = (ref: string, name: string) => {
      if (ref.startsWith('file:')) return ref.slice(5);
      const path = join(scratch(), name);
      writeFileSync(path, `${resolveSecret(ref)}\n`, { mode: 0o600 });
      return path;
    };
    const key = materialize(auth.sshKey, 'id');
    const knownHosts = materialize(auth.knownHosts, 'known_hosts');
    env['GIT_SSH_COMMAND'] = `ssh -i '${key}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile='${knownHosts}'`;
  }
  return env;
}

function remoteUrl(url: string): string {
  if (/^[a-z+]+:\/\//i.test(url) || /^[^/]+@[^:]+:/.test(url)) return url;
  return resolve(url);
}

/** A bare mirror of one branch of one repository, read at exact commits. */
export class GitMirror {
  private readonly dir: string;
  private readonly git: SimpleGit;
  private scratchDir?: string;
  private spawnEnv: Record<string, string> = {};

  constructor(
    readonly config: RepositoryConfig,
    cacheDir: string,
  ) {
    this.dir = resolve(cacheDir, config.name);
    mkdirSync(this.dir, { recursive: true });
    const gitEnv = gitEnvironment(config, () => (this.scratchDir ??= mkdtempSync(join(tmpdir(), 'rg-git-'))));
    // Only what git needs: the ambient environment (EDITOR, PAGER, GIT_*) stays out.
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', LANG: 'C', ...gitEnv };
    this.git = simpleGit({
      baseDir: this.dir,
      timeout: { block: 60_000 },
      allowEnvironment: Object.keys(gitEnv),
      unsafe: { allowUnsafeSshCommand: 'GIT_SSH_COMMAND' in gitEnv, allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in gitEnv },
    }).env(env);
    this.spawnEnv = env;
  }

  private get ref(): string {
    return `refs/heads/${this.config.branch}`;
  }

  private async ensureInitialized(): Promise<void> {
    if (existsSync(join(this.dir, 'HEAD'))) return;
    await this.git.raw(['init', '--bare', '--quiet']);
    await this.git.raw(['remote', 'add', 'origin', remoteUrl(this.config.url)]);
  }

  /** The branch head on the remote, without fetching. */
  async remoteHead(): Promise<string> {
    await this.ensureInitialized();
    const out = await this.git.raw(['ls-remote', 'origin', this.ref]);
    const commit = out.split(/\s/)[0] ?? '';
    if (!COMMIT.test(commit)) throw new Error(`branch ${this.config.branch} not found on the remote`);
    return commit;
  }

  /** Fetches the branch and returns its commit. */
  async fetch(): Promise<string> {
    await this.ensureInitialized();
    await this.git.raw(['fetch', '-v', '--no-tags', '--prune', 'origin', `+${this.ref}:${this.ref}`]);
    return (await this.git.raw(['rev-parse', this.ref])).trim();
  }

  /** Runbook candidate paths at a commit, relative to the configured sub-path. */
  async listFiles(commit: string): Promise<string[]> {
    const prefix = this.subPath();
    const out = await this.git.raw(['ls-tree', '-r', '--name-only', '-z', commit, ...(prefix ? ['--', prefix] : [])]);
    return out
      .split('\0')
      .filter(Boolean)
      .map((path) => (prefix ? path.slice(prefix.length) : path));
  }

  private subPath(): string {
    const path = (this.config.path ?? '').replace(/^\/+|\/+$/g, '');
    return path ? `${path}/` : '';
  }

  /** Reads many files at one commit through one `git cat-file --batch`. */
  async readFiles(commit: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
    this.assertCommit(commit);
    const prefix = this.subPath();
    const result = new Map<string, Buffer>();
    if (paths.length === 0) return result;
    const child = spawn('git', ['cat-file', '--batch'], { cwd: this.dir, env: this.spawnEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const exited = new Promise<number | null>((resolveExit, reject) => {
      child.on('error', reject);
      child.on('close', resolveExit);
    });
    child.stdin.end(paths.map((p) => `${commit}:${prefix}${p}\n`).join(''));
    if ((await exited) !== 0) throw new Error('git cat-file failed');
    const out = Buffer.concat(chunks);
    let offset = 0;
    for (const path of paths) {
      const headerEnd = out.indexOf(10, offset);
      const header = out.subarray(offset, headerEnd).toString();
      offset = headerEnd + 1;
      const [, type, size] = header.split(' ');
      if (header.endsWith('missing') || type !== 'blob') continue;
      const length = Number(size);
      result.set(path, out.subarray(offset, offset + length));
      offset += length + 1;
    }
    return result;
  }

  async readFile(commit: string, path: string): Promise<Buffer | undefined> {
    if (path.includes('..') || path.startsWith('/')) throw new RungateError('BAD_REQUEST', 'invalid runbook path');
    return (await this.readFiles(commit, [path])).get(path);
  }

  /** Whether the mirror holds this commit (and it is on the configured branch's history). */
  async hasCommit(commit: string): Promise<boolean> {
    this.assertCommit(commit);
    try {
      await this.git.raw(['merge-base', '--is-ancestor', commit, this.ref]);
      return true;
    } catch {
      return false;
    }
  }

  private assertCommit(commit: string): void {
    if (!COMMIT.test(commit)) throw new RungateError('BAD_REQUEST', 'a commit is 40 hexadecimal characters');
  }
}

export function sha256(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}
