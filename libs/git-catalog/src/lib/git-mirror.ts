import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { BlobReader, type GitObject } from './blob-reader';
import { GitConfigurationError, redact, type GitEnvironment } from './git-environment';

/** A full object id: SHA-1 (40) or SHA-256 (64) hex. */
export const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** A branch name git accepts that cannot smuggle anything into a refspec or an argument. */
export function isBranchName(branch: string): boolean {
  return (
    /^[A-Za-z0-9._/-]+$/.test(branch) &&
    !branch.startsWith('-') &&
    !branch.startsWith('/') &&
    !branch.endsWith('/') &&
    !branch.endsWith('.lock') &&
    !branch.endsWith('.') &&
    !branch.includes('..') &&
    !branch.includes('//') &&
    !branch.split('/').some((part) => part.startsWith('.'))
  );
}

/** git's own reason ("fatal: …"), without progress chatter: one line for a log. */
function summarize(output: string): string {
  const lines = output
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean);
  const reasons = lines.filter((l) => /^(fatal|error):/i.test(l));
  return (reasons.length ? reasons : lines.slice(-1)).slice(0, 2).join('; ') || 'no output';
}

/** A git operation that failed; the message is safe to log (credentials removed). */
export class GitOperationError extends Error {
  constructor(
    readonly operation: string,
    message: string,
  ) {
    super(`git ${operation} failed: ${message}`);
    this.name = 'GitOperationError';
  }
}

export interface TreeEntry {
  /** Path from the repository root. */
  path: string;
  mode: string;
  oid: string;
  size: number;
}

export interface GitMirrorOptions {
  /** The mirror's folder (a bare repository); created when missing. */
  dir: string;
  branch: string;
  environment: GitEnvironment;
  /** A git command that prints nothing for this long is killed (a hung remote). */
  stallTimeoutMs?: number;
}

/**
 * A bare, fetch-only mirror of one branch. Every commit that was ever published is pinned
 * under refs/rungate/synced/, so content stays readable at that commit after a force-push
 * and after `git gc`.
 */
export class GitMirror {
  private readonly git: SimpleGit;
  private readonly reader: BlobReader;
  private prepared = false;

  constructor(private readonly options: GitMirrorOptions) {
    if (!isBranchName(options.branch)) throw new GitConfigurationError(`branch "${options.branch}" is not a valid branch name`);
    mkdirSync(options.dir, { recursive: true });
    const { env, allowed } = options.environment;
    this.git = simpleGit({
      baseDir: options.dir,
      timeout: { block: options.stallTimeoutMs ?? 60_000 },
      allowEnvironment: allowed,
      // Only what gitEnvironment() set on purpose: a credential header, the ssh command with a
      // pinned host key, and an empty global config; never anything from a request.
      unsafe: {
        allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in env,
        allowUnsafeSshCommand: 'GIT_SSH_COMMAND' in env,
        allowUnsafeConfigPaths: true,
      },
    }).env(env);
    this.reader = new BlobReader(options.dir, env);
  }

  get trackingRef(): string {
    return `refs/remotes/origin/${this.options.branch}`;
  }

  private async run(operation: string, args: string[]): Promise<string> {
    try {
      return await this.git.raw(args);
    } catch (error) {
      throw new GitOperationError(operation, summarize(redact((error as Error).message, this.options.environment.secrets)));
    }
  }

  /** Creates the bare repository once and points it at the configured remote and branch. */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    if (!existsSync(join(this.options.dir, 'HEAD'))) await this.run('init', ['init', '--bare', '--quiet']);
    const settings: [string, string][] = [
      ['remote.origin.url', this.options.environment.remote.url],
      ['remote.origin.fetch', `+refs/heads/${this.options.branch}:${this.trackingRef}`],
      ['remote.origin.tagOpt', '--no-tags'],
      ['fetch.prune', 'false'],
      // A stalled HTTP transfer is aborted instead of hanging the syncer.
      ['http.lowSpeedLimit', '1000'],
      ['http.lowSpeedTime', '30'],
    ];
    for (const [key, value] of settings) await this.run('config', ['config', key, value]);
    this.prepared = true;
  }

  /** The branch head on the remote (`git ls-remote`), without fetching anything. */
  async remoteHead(): Promise<string> {
    await this.prepare();
    const ref = `refs/heads/${this.options.branch}`;
    const out = await this.run('ls-remote', ['ls-remote', 'origin', ref]);
    const line = out.split('\n').find((l) => l.endsWith(`\t${ref}`));
    const commit = line?.split('\t')[0];
    if (!commit || !COMMIT_ID.test(commit)) throw new GitOperationError('ls-remote', `branch ${this.options.branch} does not exist on the remote`);
    return commit;
  }

  /** Fetches the branch; returns the fetched head. */
  async fetch(): Promise<string> {
    await this.prepare();
    // -v: simple-git waits ~50 ms after a command that printed nothing, and -v makes fetch print.
    await this.run('fetch', ['fetch', '--progress', '-v', '--no-tags', '--no-write-fetch-head', 'origin']);
    const head = await this.localHead();
    if (!head) throw new GitOperationError('fetch', `branch ${this.options.branch} was not fetched`);
    return head;
  }

  /** The last fetched head of the branch, if any: what can be served when the remote is away. */
  async localHead(): Promise<string | undefined> {
    if (!existsSync(join(this.options.dir, 'HEAD'))) return undefined;
    const object = await this.reader.read(`${this.trackingRef}^{commit}`);
    return object?.type === 'commit' ? object.oid : undefined;
  }

  async hasCommit(commit: string): Promise<boolean> {
    if (!COMMIT_ID.test(commit)) return false;
    const object = await this.reader.read(`${commit}^{commit}`);
    return object?.type === 'commit';
  }

  /** Keeps a published commit reachable (gc, force-push) so content by commit keeps working. */
  async pin(commit: string): Promise<void> {
    if (!COMMIT_ID.test(commit)) throw new GitOperationError('update-ref', 'not a commit id');
    await this.run('update-ref', ['update-ref', `refs/rungate/synced/${commit}`, commit]);
  }

  /** Files (not symlinks or submodules) at a commit, under an optional folder. */
  async listFiles(commit: string, folder?: string): Promise<TreeEntry[]> {
    if (!COMMIT_ID.test(commit)) throw new GitOperationError('ls-tree', 'not a commit id');
    const out = await this.run('ls-tree', ['ls-tree', '-r', '-l', '-z', '--full-tree', commit, ...(folder ? ['--', `${folder}/`] : [])]);
    const entries: TreeEntry[] = [];
    for (const record of out.split('\0')) {
      const tab = record.indexOf('\t');
      if (tab < 0) continue;
      const [mode = '', type, oid = '', size = ''] = record.slice(0, tab).trim().split(/\s+/);
      if (type !== 'blob' || (mode !== '100644' && mode !== '100755')) continue;
      entries.push({ path: record.slice(tab + 1), mode, oid, size: Number(size) });
    }
    return entries;
  }

  /** An object by id or by `<commit>:<path>`; undefined when it does not exist. */
  read(name: string): Promise<GitObject | undefined> {
    return this.reader.read(name);
  }

  close(): void {
    this.reader.close();
  }
}
