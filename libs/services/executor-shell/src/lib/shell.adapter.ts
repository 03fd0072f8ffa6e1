import { accessSync, constants, statSync } from 'node:fs';
import { RungateError, type ProcessOutput, type RunTicketClaims } from '@rungate/contracts';
import type { ConnectionOf, ExecutorAdapter, PipelineLog } from '@rungate/executors';
import { redactSecrets } from './output-secrets';
import { checkAsenv, resolveConnectionEnvironment, scriptEnvironment, type ConnectionEnvironment } from './script-environment';
import { scriptInput } from './script-input';
import { ShellProcess } from './shell-process';
import { createWorkdir, removeWorkdir } from './workdir';

/** SIGTERM's head start before SIGKILL: well inside the pipeline's 3 s cancel grace. */
const DEFAULT_KILL_GRACE_MS = 1000;

export interface PreparedShellRun {
  readonly runId: string;
  readonly connection: string;
  readonly shell: string;
  readonly body: string;
  readonly environment: ConnectionEnvironment;
  readonly asenv: Readonly<Record<string, string>>;
  readonly maxBytes: number;
  /** The running interpreter, from spawn until the run settles. */
  process?: ShellProcess;
  /** Set by a cancel that came before the process started: it must then never start. */
  cancelled?: boolean;
}

export interface ShellAdapterOptions {
  /** How long SIGTERM has before SIGKILL when a run is stopped. */
  killGraceMs?: number;
  /** Where `env:` secret references are looked up: the executor's own environment. */
  env?: NodeJS.ProcessEnv;
  /** Where run directories are made (default: the executor's TMPDIR). */
  workdirBase?: string;
}

function cancelledError(when: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `the run was cancelled ${when}; nothing was executed`);
}

/**
 * The executor host's own shell, for runbooks that drive the CLIs installed beside the
 * executor (kubectl, aws, psql, gh). Each run is `<shell> -s` reading the body on stdin,
 * in a fresh private directory, with a clean environment (PATH, HOME, TMPDIR, the
 * connection's declared variables and the ticket's asenv parameters), in a process group
 * of its own that is killed whole on timeout, cancel and shutdown.
 *
 * A shell can neither roll back nor confine what a script does: dry runs are refused, and
 * `@readonly` is not enforced here — it is the MCP hint the runbook's review vouches for; the
 * connection's credentials are what actually limit a script.
 */
export class ShellAdapter implements ExecutorAdapter<'shell', PreparedShellRun> {
  readonly type = 'shell' as const;
  private readonly running = new Set<ShellProcess>();
  private readonly killGraceMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly workdirBase: string | undefined;
  /** Should the executor exit without a graceful shutdown, its runs' process groups die with it. */
  private readonly killOnExit = () => {
    for (const child of this.running) child.killNow();
  };

  constructor(
    private readonly log: PipelineLog,
    options: ShellAdapterOptions = {},
  ) {
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.env = options.env ?? process.env;
    this.workdirBase = options.workdirBase;
    process.on('exit', this.killOnExit);
  }

  prepare(claims: RunTicketClaims, body: string, connection: ConnectionOf<'shell'>): PreparedShellRun {
    if (claims.dryRun) {
      throw new RungateError(
        'INVALID_PARAMS',
        `dryRun: connection ${connection.name} is a shell, which cannot preview or roll back what a script does; ` +
          'run without dryRun, or use a runbook that previews by itself (e.g. kubectl --dry-run=server). Nothing was executed.',
        { parameter: 'dryRun', constraint: 'language' },
      );
    }
    this.checkShell(connection);
    const environment = resolveConnectionEnvironment(connection, this.env);
    checkAsenv(claims.env, environment, connection.name);
    return {
      runId: claims.runId,
      connection: connection.name,
      shell: connection.shell,
      body,
      environment,
      asenv: claims.env,
      // The executor's own configuration caps what a ticket may ask for.
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
    };
  }

  async run(prepared: PreparedShellRun, signal: AbortSignal): Promise<ProcessOutput> {
    if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
    const workdir = await createWorkdir(this.workdirBase).catch((error: unknown) => {
      throw new RungateError('TARGET_UNAVAILABLE', `cannot create a run directory on this executor host (${(error as NodeJS.ErrnoException).code ?? 'error'}); nothing was executed`);
    });
    try {
      if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
      const child = ShellProcess.start({
        shell: prepared.shell,
        input: scriptInput(prepared.body),
        cwd: workdir,
        env: scriptEnvironment(workdir, prepared.environment, prepared.asenv),
        maxBytes: prepared.maxBytes,
        killGraceMs: this.killGraceMs,
      });
      prepared.process = child;
      this.running.add(child);
      const onAbort = () => void child.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const output = await child.finished;
        if (signal.aborted || prepared.cancelled) {
          throw new RungateError('EXECUTION_FAILED', `its process group was stopped (SIGTERM, then SIGKILL after ${this.killGraceMs} ms) and its output withheld`);
        }
        return redactSecrets(output, prepared.environment.secrets, prepared.maxBytes);
      } finally {
        signal.removeEventListener('abort', onAbort);
        this.running.delete(child);
      }
    } finally {
      await removeWorkdir(workdir).catch((error: unknown) =>
        this.log.warn(`run ${prepared.runId}: could not remove its directory ${workdir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`),
      );
    }
  }

  async cancel(prepared: PreparedShellRun): Promise<void> {
    prepared.cancelled = true;
    await prepared.process?.stop();
  }

  /** Runs still going after the pipeline's shutdown have their process groups stopped. */
  async close(): Promise<void> {
    await Promise.all([...this.running].map((child) => child.stop()));
    process.off('exit', this.killOnExit);
  }

  /** A missing interpreter refuses the run before anything starts, naming only the path. */
  private checkShell(connection: ConnectionOf<'shell'>): void {
    try {
      if (!statSync(connection.shell).isFile()) throw new Error('not a file');
      accessSync(connection.shell, constants.X_OK);
    } catch {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: the shell ${connection.shell} is not an executable file on this executor host; nothing was executed`);
    }
  }
}
