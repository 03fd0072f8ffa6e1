import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, relative } from 'node:path';
import { promisify } from 'node:util';
import type { ConfigOrigin } from './context';

const run = promisify(execFile);
const GIT_TIMEOUT_MS = 5000;

/** The commit that last changed the file, when the file sits in a git work tree. */
export interface GitProvenance {
  commit: string;
  author: string;
  authorEmail: string;
  /** Author date, ISO 8601. */
  date: string;
  /** The file's path in its repository. */
  path: string;
  /**
   * True when the bytes that were loaded are exactly the file at HEAD: the change is that
   * commit's. False: the file holds edits no commit has (who made them, git cannot say).
   */
  matchesCommit: boolean;
}

/**
 * What can be known about who changed rungate.yaml, and no more (issue 15). A reload only
 * sees a file change: the file (its path and the digest of the bytes that were loaded, its
 * owner and modification time), and, when it sits in a git work tree, the commit that last
 * changed it. The process that reloads it is Rungate itself, so its OS user (`reloadedBy`)
 * says who runs Rungate, not who edited the file.
 */
export interface ConfigProvenance {
  file: string;
  sha256: string;
  ownerUid?: number;
  modifiedAt?: string;
  git?: GitProvenance;
  /** Why there is no git provenance: not in a work tree, not tracked, git missing or refusing. */
  gitUnavailable?: string;
  reloadedBy: { user?: string; sudoUser?: string; uid?: number };
}

/** The id git gives these bytes as a blob (`git hash-object`), to compare with the file at HEAD without reading it again. */
export function gitBlobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

/** Who the audit record names as the actor of a config change: the commit's author only when the loaded bytes are that commit's. */
export function configChangeActor(provenance: Pick<ConfigProvenance, 'file' | 'git'>): string {
  return provenance.git?.matchesCommit ? `git:${provenance.git.authorEmail}` : `config-file:${provenance.file}`;
}

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, timeout: GIT_TIMEOUT_MS, encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
  return stdout.trim();
}

async function gitProvenance(file: string, content: Buffer): Promise<{ git: GitProvenance } | { gitUnavailable: string }> {
  const dir = dirname(file);
  let top: string;
  try {
    top = await git(dir, ['rev-parse', '--show-toplevel']);
  } catch (error) {
    const message = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    return { gitUnavailable: /not a git repository/i.test(message) ? 'not in a git work tree' : `git: ${message.split('\n')[0]}` };
  }
  const path = relative(top, file);
  const log = await git(top, ['log', '-1', '--format=%H%x00%an%x00%ae%x00%aI', '--', path]).catch(() => '');
  const [commit, author, authorEmail, date] = log.split('\0');
  if (!commit || author === undefined || authorEmail === undefined || date === undefined) return { gitUnavailable: `${path} has no commit in ${top} (not tracked)` };
  const atHead = await git(top, ['rev-parse', `HEAD:${path}`]).catch(() => '');
  return { git: { commit, author, authorEmail, date, path, matchesCommit: atHead === gitBlobId(content) } };
}

function processUser(): ConfigProvenance['reloadedBy'] {
  let user = process.env['USER'] ?? process.env['LOGNAME'];
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the environment is all there is.
  }
  const sudoUser = process.env['SUDO_USER'];
  return { ...(user ? { user } : {}), ...(sudoUser ? { sudoUser } : {}), ...(process.getuid ? { uid: process.getuid() } : {}) };
}

/** Everything a reload can honestly say about where the new configuration came from. */
export async function configProvenance(origin: ConfigOrigin): Promise<ConfigProvenance> {
  let file = origin.file;
  let stat: { uid: number; mtime: Date } | undefined;
  try {
    file = realpathSync(origin.file);
    stat = statSync(file);
  } catch {
    // Replaced again or removed since it was read: the digest below is still of what was loaded.
  }
  return {
    file,
    sha256: createHash('sha256').update(origin.content).digest('hex'),
    ...(stat ? { ownerUid: stat.uid, modifiedAt: stat.mtime.toISOString() } : {}),
    ...(await gitProvenance(file, origin.content)),
    reloadedBy: processUser(),
  };
}
