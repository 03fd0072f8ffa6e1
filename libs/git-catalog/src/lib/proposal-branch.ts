import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { redact, type GitEnvironment } from './git-environment';
import { isBranchName } from './git-mirror';

export interface ProposalCommit {
  environment: GitEnvironment;
  /** The branch the proposal starts from (the repository's configured branch). */
  base: string;
  /** The new branch; refused if the remote has it already. */
  branch: string;
  /** Where the clone goes (an empty or missing folder the caller owns). */
  dir: string;
  /** The file's path inside the clone, and its content. */
  path: string;
  content: string;
  message: string;
  author: { name: string; email: string };
}

export interface ProposalResult {
  branch: string;
  commit: string;
  /** The clone holding the branch: kept when the push failed, so the branch is not lost. */
  clone: string;
  pushed: boolean;
  /** Why the push failed (credentials redacted). */
  pushError?: string;
}

export class ProposalGitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProposalGitError';
  }
}

/**
 * Proposes a new runbook through code review (ADR 19): clones the repository's branch, commits
 * the file on a new branch and pushes that branch — never the base branch, and never over an
 * existing file or branch. A push that fails (no write access, no credentials) leaves the
 * commit in the clone, whose path the caller prints.
 */
export async function commitProposal(proposal: ProposalCommit): Promise<ProposalResult> {
  const { environment, base, branch, dir } = proposal;
  for (const name of [base, branch]) if (!isBranchName(name)) throw new ProposalGitError(`"${name}" is not a valid branch name`);
  const { env, allowed, secrets } = environment;
  const author = { GIT_AUTHOR_NAME: proposal.author.name, GIT_AUTHOR_EMAIL: proposal.author.email, GIT_COMMITTER_NAME: proposal.author.name, GIT_COMMITTER_EMAIL: proposal.author.email };
  const git = (cwd: string): SimpleGit =>
    simpleGit({
      baseDir: cwd,
      timeout: { block: 120_000 },
      allowEnvironment: [...allowed, ...Object.keys(author)],
      unsafe: { allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in env, allowUnsafeSshCommand: 'GIT_SSH_COMMAND' in env, allowUnsafeConfigPaths: true },
    }).env({ ...env, ...author });
  const run = async (repo: SimpleGit, what: string, args: string[]): Promise<string> => {
    try {
      return await repo.raw(args);
    } catch (error) {
      throw new ProposalGitError(`git ${what} failed: ${redact((error as Error).message, secrets).trim().split('\n').slice(-3).join(' ')}`);
    }
  };
  mkdirSync(dir, { recursive: true });
  await run(git(dir), 'clone', ['clone', '--quiet', '--single-branch', '--branch', base, '--', environment.remote.url, 'clone']);
  const clone = join(dir, 'clone');
  const repo = git(clone);
  const remoteHas = await run(repo, 'ls-remote', ['ls-remote', '--heads', 'origin', `refs/heads/${branch}`]);
  if (remoteHas.trim() !== '') throw new ProposalGitError(`the repository already has a branch ${branch}; pick another --path or delete that branch`);
  const file = join(clone, proposal.path);
  if (existsSync(file)) throw new ProposalGitError(`${proposal.path} already exists on ${base}; pick another --path`);
  await run(repo, 'checkout', ['checkout', '--quiet', '-b', branch]);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, proposal.content);
  await run(repo, 'add', ['add', '--', proposal.path]);
  await run(repo, 'commit', ['commit', '--quiet', '--no-verify', '-m', proposal.message]);
  const commit = (await run(repo, 'rev-parse', ['rev-parse', 'HEAD'])).trim();
  try {
    await run(repo, 'push', ['push', '--quiet', 'origin', `refs/heads/${branch}:refs/heads/${branch}`]);
    return { branch, commit, clone, pushed: true };
  } catch (error) {
    return { branch, commit, clone, pushed: false, pushError: (error as Error).message };
  }
}
