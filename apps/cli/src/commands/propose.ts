import { mkdtempSync, rmSync } from 'node:fs';
import { userInfo, tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { loadConfig, resolveSecret, type RepositoryConfig } from '@rungate/config';
import { AuditEvent } from '@rungate/contracts';
import { proposeRunbook } from '@rungate/exploration';
import { commitProposal, gitEnvironment } from '@rungate/git-catalog';
import { loadSqlParser } from '@rungate/guardrails';
import { lintRepository } from '@rungate/runbooks';
import { UsageError } from '../cli/values';
import { AuditPage, auditApi, withApi, type AuditApiOptions } from './audit-api';

export interface ProposeOptions extends AuditApiOptions {
  fromRun: string;
  path: string;
  description?: string;
  config: string;
  repository?: string;
  /** A repository URL or path instead of one from the configuration. */
  repo?: string;
  branch?: string;
  author?: string;
}

/** The explored statement of a run, from its decision event. */
async function exploredRun(options: ProposeOptions): Promise<{ statement: string; event: AuditEvent }> {
  const api = auditApi(options, 'a user in an auditor group');
  const page = await api.get('/audit/events', new URLSearchParams({ runId: options.fromRun, type: 'audit.run.decided', limit: '10' }), AuditPage);
  for (const stored of page.events) {
    const event = AuditEvent.safeParse(stored.event);
    if (event.success && event.data.tool === 'explore_sql' && event.data.params?.['sql']) return { statement: event.data.params['sql'], event: event.data };
  }
  throw new UsageError(`run ${options.fromRun} is not an explore_sql call the audit trail knows (rungate sessions show lists a session's runs)`);
}

/** The repository to propose into: --repo, else the configuration's (--repository when it has several). */
function targetRepository(options: ProposeOptions): RepositoryConfig {
  if (options.repo) return { name: 'proposal', url: options.repo, branch: options.branch ?? 'main', pollInterval: 10_000 };
  const { repositories } = loadConfig(resolve(options.config));
  const chosen = options.repository ? repositories.find((r) => r.name === options.repository) : repositories.length === 1 ? repositories[0] : undefined;
  if (!chosen) {
    const names = repositories.map((r) => r.name).join(', ');
    throw new UsageError(options.repository ? `no repository ${options.repository} in ${options.config} (it has ${names})` : `${options.config} has several repositories (${names}): name one with --repository`);
  }
  return options.branch ? { ...chosen, branch: options.branch } : chosen;
}

function parseAuthor(text: string | undefined): { name: string; email: string } {
  if (text === undefined) {
    const user = userInfo().username;
    return { name: `${user} (rungate runbooks propose)`, email: `${user}@localhost` };
  }
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(text);
  if (!match) throw new UsageError('--author takes "Name <email>"');
  return { name: match[1] as string, email: match[2] as string };
}

/**
 * `rungate runbooks propose --from-run RUN --path team/x.sql`: the explored statement of RUN,
 * its filter values lifted into typed parameters, committed on a new branch of the runbook
 * repository and pushed for review (ADR 19). Exit 0 with the branch printed; when the push is
 * refused, exit 1 with the clone that holds the branch.
 */
export function proposeFromRun(options: ProposeOptions): Promise<number> {
  return withApi('rungate runbooks propose', async () => {
    const repository = targetRepository(options);
    const author = parseAuthor(options.author);
    const { statement, event } = await exploredRun(options);
    if (event.connection?.type === 'mysql') {
      throw new UsageError(`run ${options.fromRun} explored MySQL connection ${event.connection.name}: propose reads PostgreSQL statements only (ADR 19); write its runbook by hand, with -- @connection-types mysql`);
    }
    const parser = await loadSqlParser();
    const proposal = proposeRunbook(parser, {
      statement,
      path: options.path,
      description: options.description ?? `Explored on ${event.connection?.name ?? 'a connection'} by ${event.actor?.user ?? 'someone'}; describe what it finds`,
      origin: { runId: options.fromRun, user: event.actor?.user ?? 'unknown', agent: event.actor?.agent, connection: event.connection?.name, time: event.time },
    });
    const inRepository = repository.path ? posix.join(repository.path, proposal.path) : proposal.path;
    const name = posix.basename(proposal.path).replace(/\.runbook\.sql$/i, '');
    const branch = `rungate/propose/${name}-${options.fromRun.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), 'rungate-propose-'));
    let keep = false;
    try {
      const environment = gitEnvironment(repository, { secretsDir: join(dir, 'secrets'), resolveSecret });
      const result = await commitProposal({
        environment,
        base: repository.branch,
        branch,
        dir,
        path: inRepository,
        content: proposal.source,
        author,
        message: `Propose ${inRepository} from exploration run ${options.fromRun}\n\nExplored by ${event.actor?.user ?? 'unknown'}${event.actor?.agent ? ` via ${event.actor.agent}` : ''} on ${event.connection?.name ?? '?'} at ${event.time}; its filter values are parameters:\n${proposal.parameters.map((p) => `- ${p.name}: ${p.type}`).join('\n') || '- (none)'}\n`,
      });
      // The same check a runbook repository's CI runs: the proposal must lint clean.
      const lint = lintRepository(result.clone, { repository: 'proposal', subPath: repository.path });
      const findings = lint.findings.filter((finding) => finding.path === proposal.path);
      if (findings.length > 0) throw new UsageError(`the proposal does not lint: ${findings.map((f) => `${f.line}:${f.column} ${f.message}`).join('; ')}`);
      process.stdout.write(`proposed ${inRepository} on branch ${result.branch} (commit ${result.commit.slice(0, 12)})\n`);
      process.stdout.write(`  parameters: ${proposal.parameters.map((p) => `${p.name} (${p.type})`).join(', ') || 'none'}\n`);
      if (result.pushed) {
        process.stdout.write(`  pushed to ${repository.url}: open a review for ${result.branch} like any runbook change\n`);
        return 0;
      }
      keep = true;
      process.stdout.write(`  not pushed (${result.pushError ?? 'push failed'}); the branch is in ${result.clone}: push it from there\n`);
      return 1;
    } finally {
      // The clone may stay for its branch; the credentials written for git never do.
      rmSync(join(dir, 'secrets'), { recursive: true, force: true });
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }
  });
}
