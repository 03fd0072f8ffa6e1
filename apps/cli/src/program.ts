import { Argument, Command, CommanderError, Option, type CommandUnknownOpts, type OptionValues } from '@commander-js/extra-typings';
import { ConfigError, readEnvironment } from '@rungate/config';
import { AccessScope, ERROR_EDGES, RungateError } from '@rungate/contracts';
import { BASH_COMPLETION, completions } from './cli/completion';
import { UsageError, collect, durationMs, pollInterval, portNumber, positiveInteger } from './cli/values';
import { DEFAULT_DATA_DIR } from './commands/database';
import { SERVICES } from './commands/services';

// The whole command line, declared in one place. Each action loads its command's module only
// when it runs, so `--help`, a usage error or `rungate lint` never load NestJS, NATS or PGlite.

/** A command's exit code; undefined for those that keep running (serve, run, audit tail). */
type Outcome = number | undefined;

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

/** `rungate token create`, as the operator typed it. */
export function commandPath(command: CommandUnknownOpts): string {
  const names: string[] = [];
  for (let c: CommandUnknownOpts | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Maps a command's failure to its message and exit code, once for the whole CLI. */
function failure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof UsageError) return { message: error.message, exitCode: EXIT_USAGE };
  if (error instanceof ConfigError) return { message: error.message, exitCode: EXIT_USAGE };
  if (error instanceof RungateError) return { message: error.message, exitCode: ERROR_EDGES[error.code].exit };
  return { message: error instanceof Error ? error.message : String(error), exitCode: EXIT_FAILURE };
}

async function finish(command: CommandUnknownOpts, work: () => Promise<Outcome> | Outcome): Promise<void> {
  try {
    const code = await work();
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    const { message, exitCode } = failure(error);
    process.stderr.write(`${commandPath(command)}: ${message}\n`);
    process.exitCode = exitCode;
  }
}

const dataDirOption = () => new Option('--data-dir <dir>', `the embedded mode's data directory (default: ${DEFAULT_DATA_DIR}, unless DATABASE_URL is set)`);
const databaseOption = () =>
  new Option('--database <url>', 'PostgreSQL holding Rungate\'s tables, the distributed mode (default: $DATABASE_URL)').conflicts('dataDir');
const configOption = (fallback: string) => new Option('--config <file>', 'rungate.yaml to read').env('RUNGATE_CONFIG').default(fallback);

const DATABASE_HELP = `
Where: --database URL (or DATABASE_URL) is PostgreSQL, the distributed mode; --data-dir DIR is
the embedded database of \`rungate serve --data-dir DIR\`. While that serve runs, token commands
go through its admin socket (DIR/admin.sock, this OS user only); when it does not, they open DIR
themselves.`;

function auditQueryOptions(command: Command) {
  return command
    .option('--user <user>', 'events of this user')
    .option('--agent <agent>', 'events of this agent')
    .option('--runbook <runbook>', 'a tool name (demo.postgres.get_user) or <repository>/<path> glob')
    .option('--type <type>', 'an event type; a trailing * matches a prefix (audit.run.*)')
    .option('--run <id>', 'one run')
    .option('--connection <name>', 'events on this connection')
    .option('--outcome <status>', 'events with this outcome: denied finds every refused attempt (also succeeded, failed, timed_out…)')
    .option('--code <code>', 'events with this error code: an attempt\'s reason (unknown-tool, hidden-tool, unauthenticated…) or a run\'s')
    .option('--ip <address>', 'events from this source address')
    .option('--since <time>', 'from this time: RFC 3339 or a look-back (15m, 24h, 7d)')
    .option('--until <time>', 'up to this time')
    .addOption(new Option('--url <url>', 'the audit service').env('RUNGATE_AUDIT_URL').default('http://127.0.0.1:8082'))
    .option('--token-file <file>', 'a file holding the token of a user in an auditor group (default: $RUNGATE_TOKEN)')
    .option('--json', 'one JSON object per event');
}

function tokenCommands(): Command {
  const token = new Command('token').description('agent tokens: create (shown once), list, revoke').addHelpText('after', DATABASE_HELP);
  token
    .command('create')
    .description('make an agent token for a user (or, --human, the user\'s own); prints it once, on stdout')
    .requiredOption('--user <user>', 'the human the agent acts for (a name in users:)')
    .option('--agent <agent>', 'the agent\'s name, recorded in the audit log (with --human: the client, default cli)')
    .option('--human', 'a human\'s own token, not an agent\'s: only such a token may approve held runs (rungate approve)')
    .addOption(new Option('--ttl <duration>', 'how long it works: 30m, 8h, 7d').argParser(durationMs).default(8 * 3_600_000, '8h'))
    .option('--runbooks <glob...>', 'narrow it to these runbook globs (<repository>/<path>)')
    .option('--connections <name...>', 'narrow it to these connections')
    .addOption(
      new Option('--scope <scope...>', 'permissions beyond running runbooks, none unless given: audit:read lets it query the audit trail (its user must be an auditor too)').choices(
        AccessScope.options,
      ),
    )
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action((options, command) => finish(command, async () => (await import('./commands/token')).createToken(options)));
  token
    .command('list')
    .description('every agent token: id, state, user, agent, expiry, scope')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action((options, command) => finish(command, async () => (await import('./commands/token')).listTokens(options)));
  token
    .command('revoke')
    .description('stop a token from working, at once')
    .argument('<id>', 'the token\'s id (tok_…, from create or list)')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action((id, options, command) => finish(command, async () => (await import('./commands/token')).revokeToken(id, options)));
  return token;
}

function consoleCommands(): Command {
  const group = new Command('console').description('the web console at /console (README: Web console)');
  group
    .command('link')
    .description('a one-time web console sign-in link for a user, from the running rungate serve; prints it once, on stdout')
    .requiredOption('--user <user>', 'whom it signs in (a name in users:)')
    .option('--data-dir <dir>', `the running serve's data directory (default: ${DEFAULT_DATA_DIR})`, DEFAULT_DATA_DIR)
    .action((options, command) => finish(command, async () => (await import('./commands/console')).consoleLinkCommand(options)));
  return group;
}

function auditCommands(): Command {
  const audit = new Command('audit').description('the audit trail: verify its hash chain, search it, follow it');
  audit
    .command('verify')
    .description('recompute the hash chain and name the first broken link (exit 0 intact, 1 broken)')
    .option('--from <seq|time>', 'start at this sequence number or time (2025-06-01T00:00:00Z, 24h), anchored on its prev_hash')
    .option('--stream', 'also compare the table with the AUDIT stream (NATS_URL); distributed mode only')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action((options, command) => finish(command, async () => (await import('./commands/audit')).verifyAudit(options)));
  auditQueryOptions(audit.command('search').description('query the audit service (a token with the audit:read scope, of a user in an auditor group: RUNGATE_TOKEN or --token-file)'))
    .addOption(new Option('--limit <n>', 'at most this many events').argParser(positiveInteger).default(100))
    .addOption(new Option('--order <order>', 'oldest or newest first').choices(['asc', 'desc'] as const).default('asc' as const))
    .action((options, command) => finish(command, async () => (await import('./commands/audit')).searchAudit(options)));
  auditQueryOptions(audit.command('tail').description('print the last matching events, then each new one as it is stored, until Ctrl-C'))
    .addOption(new Option('--lines <n>', 'how many recent events first').argParser(positiveInteger).default(10))
    .addOption(new Option('--interval <duration>', 'how often to ask for new events').argParser(pollInterval).default(1000, '1s'))
    .action((options, command) => finish(command, async () => (await import('./commands/audit')).tailAudit(options)));
  return audit;
}

const auditApiOptions = <Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>, who: string) =>
  command
    .addOption(new Option('--url <url>', 'the audit service').env('RUNGATE_AUDIT_URL').default('http://127.0.0.1:8082'))
    .option('--token-file <file>', `a file holding the token of ${who} (default: $RUNGATE_TOKEN)`);

const REVIEWER = 'a user in an auditor or reviewer group';

function sessionCommands(): Command {
  const sessions = new Command('sessions').description('exploration sessions: what agents explored read-only, as transcripts a reviewer reads and marks reviewed');
  auditApiOptions(sessions.command('list').description('sessions, most recently active first (default: the last 7 days)'), REVIEWER)
    .option('--since <time>', 'from this time: RFC 3339 or a look-back (15m, 24h, 7d)')
    .option('--until <time>', 'up to this time')
    .option('--user <user>', 'sessions of this user')
    .option('--agent <agent>', 'sessions of this agent')
    .option('--unreviewed', 'only sessions nobody has reviewed')
    .addOption(new Option('--limit <n>', 'at most this many sessions').argParser(positiveInteger).default(50))
    .option('--json', 'one JSON object per session')
    .action((options, command) => finish(command, async () => (await import('./commands/sessions')).listSessions(options)));
  auditApiOptions(sessions.command('show').description('one session as a transcript: every call, its full statement, decision, rows, duration and masking').argument('<id>', 'the session (ses_…, from list)'), REVIEWER)
    .option('--json', 'the transcript as JSON')
    .action((id, options, command) => finish(command, async () => (await import('./commands/sessions')).showSession(id, options)));
  auditApiOptions(sessions.command('review').description('mark a session reviewed, with a comment (audited; not by the user who explored)').argument('<id>', 'the session (ses_…)'), REVIEWER)
    .requiredOption('--comment <text>', 'what you checked and concluded')
    .action((id, options, command) => finish(command, async () => (await import('./commands/sessions')).reviewSession(id, options)));
  return sessions;
}

function runbookCommands(): Command {
  const runbooks = new Command('runbooks').description('runbook repositories');
  auditApiOptions(
    runbooks
      .command('propose')
      .description('turn an explored statement into a runbook: its filter values become typed parameters; committed on a new branch and pushed for review'),
    'a user in an auditor group',
  )
    .requiredOption('--from-run <id>', 'the explore_sql run (rungate sessions show lists them)')
    .requiredOption('--path <path>', 'where the runbook goes in the repository, e.g. team/find-stuck-orders.sql (.runbook is added)')
    .option('--description <text>', "the runbook's @description")
    .addOption(configOption('rungate.yaml'))
    .option('--repository <name>', 'the repository of --config to propose into (needed when it has several)')
    .option('--repo <url>', 'propose into this repository (path, file://, https or ssh URL) instead of one from --config')
    .option('--branch <branch>', "the branch to start from (default: the repository's configured branch, or main)")
    .option('--author <"Name <email>">', 'the commit author (default: your OS user)')
    .addHelpText(
      'after',
      `
The branch is rungate/propose/<name>-<run>. It is pushed with the repository's credentials from
--config (auth.token, auth.sshKey); if the push is refused, the commit stays in a local clone
whose path is printed (exit 1), to push from there.`,
    )
    .action((options, command) => finish(command, async () => (await import('./commands/propose')).proposeFromRun(options)));
  return runbooks;
}

const gatewayApiOptions = <Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>) =>
  command
    .addOption(new Option('--url <url>', 'the gateway').env('RUNGATE_GATEWAY_URL').default('http://127.0.0.1:8080'))
    .option('--token-file <file>', "a file holding a human's own token (rungate token create --human; default: $RUNGATE_TOKEN)")
    .option('--json', 'the run(s) as JSON');

const APPROVALS_HELP = `
Held runs (README: Approvals): an approver is in one of the run's approval groups, acts with a
human's own token (never an agent's) and is not the requester. Exit codes: 0 done, 1 refused
(not an approver, your own run, not pending, unknown run, an agent token), 2 usage or bad input.`;

function approvalCommands(program: Command): void {
  gatewayApiOptions(program.command('approve').description("approve a held run: with the quorum met it runs, exactly as stored").argument('<run-id>', 'the run (from the approval_required result or rungate runs --pending)'))
    .option('--comment <text>', 'why it may run (at most 1000 characters), kept with your decision')
    .addHelpText('after', APPROVALS_HELP)
    .action((runId, options, command) => finish(command, async () => (await import('./commands/approvals')).approveRun(runId, options)));
  gatewayApiOptions(program.command('reject').description('reject a held run: it ends, never to run').argument('<run-id>', 'the run'))
    .requiredOption('--reason <text>', 'why it must not run (1 to 1000 characters), kept with your decision')
    .addHelpText('after', APPROVALS_HELP)
    .action((runId, options, command) => finish(command, async () => (await import('./commands/approvals')).rejectRun(runId, options)));
  const runs = gatewayApiOptions(program.command('runs').description('held runs: rungate runs --pending lists those waiting for your approval'))
    .option('--pending', 'the runs waiting for your approval, oldest first')
    .enablePositionalOptions()
    .addHelpText('after', APPROVALS_HELP)
    .action((options, command) => finish(command, async () => (await import('./commands/approvals')).listPendingRuns(options)));
  gatewayApiOptions(runs.command('show').description('one held run: exactly what would run, where, for whom, its decisions and outcome').argument('<run-id>', 'the run'))
    .action((runId, options, command) => finish(command, async () => (await import('./commands/approvals')).showRun(runId, options)));
}

/** The `rungate` command line. Built fresh per call: commander keeps parse state on the objects. */
export function buildProgram(): Command {
  const program = new Command('rungate')
    .description('Rungate: reviewed, parameterized runbooks as the only write path for AI agents')
    .showSuggestionAfterError(true)
    // A parent's options end at its sub-command (rungate takes none of its own): `runs show ID --url U` is show's --url.
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
Environment: RUNGATE_CONFIG (rungate.yaml), DATABASE_URL (PostgreSQL), NATS_URL, PORT, LOG_LEVEL… (docs/configuration.md).
Exit codes: 0 success, 1 failure (a broken chain, a denial, a refused change), 2 usage or configuration error.
Each command's options: rungate <command> --help.`,
    );

  program
    .command('serve')
    .description('every service in one process, embedded database; the bundled demo without --config')
    .addOption(new Option('--config <file>', 'your rungate.yaml (default: the bundled demo)').env('RUNGATE_CONFIG'))
    .addOption(new Option('--port <port>', 'the MCP endpoint\'s port; the audit API goes on port+2; 0: free ports for both').argParser(portNumber).env('PORT'))
    .addOption(new Option('--audit-port <port>', 'the audit query API\'s port (default: --port + 2, else audit.port)').argParser(portNumber))
    .option('--host <address>', 'the address to listen on (default: gateway.host, 127.0.0.1)')
    .option('--data-dir <dir>', 'embedded database, keys, demo files and the admin socket; one serve per directory', DEFAULT_DATA_DIR)
    .option('--console-user <user>', 'print a one-time web console sign-in link for this user of users: (default: the demo\'s user)')
    .addHelpText(
      'after',
      `
Ports: without flags, rungate.yaml's gateway.port (8080) and audit.port (8082). --port P puts the
MCP endpoint (with /healthz, /readyz, /metrics) on P and the audit query API on P+2; --port 0
gives each a free port, and the banner prints them. The demo database always takes a free
loopback port. Two serves on one machine: give each its own --port (or 0) and --data-dir.`,
    )
    .action((options, command) => finish(command, async () => (await import('./serve/serve')).serveCommand(options)));

  program
    .command('demo-target', { hidden: true })
    .description('the demo\'s PostgreSQL endpoint; started by rungate serve')
    .requiredOption('--dir <dir>', 'the demo database\'s data directory')
    .option('--template <file>', 'an initialized cluster to start a new directory from')
    .action((options, command) => finish(command, async () => (await import('./serve/serve')).demoTargetCommand(options)));

  program
    .command('run')
    .description('start one service over NATS, the distributed mode (RUNGATE_CONFIG, NATS_URL, DATABASE_URL)')
    .addArgument(new Argument('<service>', 'the service to start').choices(SERVICES))
    .action((service, _options, command) => finish(command, async () => (await import('./commands/run')).runServiceCommand(service)));

  program
    .command('config')
    .description('rungate.yaml')
    .command('check')
    .description('validate rungate.yaml the way services do at start (exit 0 valid, 1 invalid)')
    .addOption(configOption('rungate.yaml'))
    .action((options, command) => finish(command, async () => (await import('./commands/config')).checkConfig(options)));

  program
    .command('keys')
    .description('run-ticket signing keys')
    .command('generate')
    .description('a new Ed25519 key pair for signing run tickets; never overwrites one')
    .option('--out <dir>', 'where to write <name>.ed25519 (0600) and <name>.ed25519.pub', '.rungate/keys')
    .option('--name <name>', 'the key files\' name', 'policy')
    .action((options, command) => finish(command, async () => (await import('./commands/keys')).generateKeys(options)));

  program.addCommand(tokenCommands());
  program.addCommand(consoleCommands());

  program
    .command('lint')
    .description('check a runbook repository the way git-sync parses it (exit 0 clean, 1 findings)')
    .argument('[dir]', 'the repository\'s folder', '.')
    .option('--repository <name>', 'the repository name tools start with (default: the folder\'s name)')
    .option('--path <sub-folder>', 'only runbooks under this sub-folder')
    .option('--config <file>', 'a rungate.yaml: also list the guardrails that apply to each runbook, and warn about runbooks they can never pass')
    .option('--quiet', 'print findings only, not the tools')
    .action((dir, options, command) => finish(command, async () => (await import('./commands/lint')).lintRunbooks(dir, options)));

  program.addCommand(auditCommands());
  approvalCommands(program);
  program.addCommand(sessionCommands());
  program.addCommand(runbookCommands());

  auditApiOptions(program.command('backlog').description('which runbooks should exist: denied and missing tools and repeated explorations, ranked'), 'a user in an auditor group')
    .option('--since <time>', 'from this time: RFC 3339 or a look-back (default 30d)')
    .addOption(new Option('--limit <n>', 'at most this many items').argParser(positiveInteger).default(20))
    .option('--json', 'one JSON object per item')
    .action((options, command) => finish(command, async () => (await import('./commands/backlog')).showBacklog(options)));

  program
    .command('policy')
    .description('rules')
    .command('explain')
    .description('why a call is allowed, denied or held for approval, rule by rule (exit 0 allow, 1 deny, 3 approval required)')
    .requiredOption('--user <user>', 'the caller')
    .option('--agent <agent>', 'the agent, to apply its static token\'s scope')
    .option('--group <group>', 'a group the user has beyond users: (an OIDC user); repeatable', collect, [])
    .requiredOption('--runbook <runbook>', '<repository>/<path> of the runbook')
    .requiredOption('--connection <name>', 'the connection')
    .option('--param <key=value>', 'a parameter value, for rules with params conditions; repeatable', collect, [])
    .option('--file <runbook-file>', 'the runbook\'s file: render it with the --param values and check the input guardrails on it')
    .addOption(configOption('rungate.yaml'))
    .action((options, command) => finish(command, async () => (await import('./commands/policy')).explainPolicy(options)));

  program
    .command('completion')
    .description('print the bash completion script (zsh: with bashcompinit); eval "$(rungate completion)"')
    .action((_options, command) =>
      finish(command, () => {
        process.stdout.write(BASH_COMPLETION);
        return 0;
      }),
    );

  program
    .command('__complete', { hidden: true })
    .description('the completions for a partial command line; called by the completion script')
    .argument('[words...]', 'the words after `rungate`, the last one being typed (after --)')
    .action((words, _options, command) =>
      finish(command, () => {
        const candidates = completions(program, words.length > 0 ? words : ['']);
        process.stdout.write(candidates.map((c) => `${c}\n`).join(''));
        return 0;
      }),
    );

  configureErrors(program);
  return program;
}

/**
 * On every command: usage errors are one line naming the command and what is wrong (commander
 * words it, the suggestion folded in), and nothing exits the process from inside commander —
 * runCli decides the code.
 */
function configureErrors(command: CommandUnknownOpts): void {
  command.exitOverride();
  command.configureOutput({
    outputError: (text, write) => write(`${commandPath(command)}: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see --help)\n`),
  });
  for (const sub of command.commands) configureErrors(sub);
}

/** Runs the CLI on `argv` (without node and the script). Resolves once the command's work is done or running. */
export async function runCli(argv: readonly string[]): Promise<void> {
  // Options read some variables themselves (--config from RUNGATE_CONFIG, --port from PORT):
  // an invalid one is refused before any command runs, naming the variable.
  try {
    readEnvironment();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`rungate: ${error.message}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help and --version exit 0; every other parse error (unknown option or command, missing
    // or invalid argument, a command group without its sub-command) is a usage error.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
}
