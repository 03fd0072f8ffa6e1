import { accessSync, constants, statSync } from 'node:fs';
import { RungateError, type ProcessOutput, type RunTicketClaims, InternalError } from '@rungate/contracts';
import { settlesWithin, shellPrelude, type ConnectionOf, type ExecutorAdapter, type PipelineLog } from '@rungate/executors';
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
  /** The run's private directory, from `open` until the session is closed. */
  workdir?: string;
  /** The interpreter, spawned by `open` and waiting on stdin until `run` sends the body. */
  process?: ShellProcess;
  /** Set by a cancel that came before the process started: it must then never start. */
  cancelled?: boolean;
  /** `open`'s first call. */
  opening?: Promise<void>;
  /** The session's closing (the shell gone, the directory removed); set once. */
  closing?: Promise<void>;
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

  /**
   * Makes the run's directory and spawns its shell, which then waits on its stdin: nothing of
   * the runbook — body or parameter — is sent (ADR 9). Spawning is most of a run's cost, so it
   * overlaps the pipeline's run-id claim and audit ack. On failure or abort it leaves nothing
   * behind. Called again, it returns the first call's promise.
   */
  open(prepared: PreparedShellRun, signal: AbortSignal): Promise<void> {
    prepared.opening ??= this.openSession(prepared, signal);
    return prepared.opening;
  }

  /** Closes a session whose run will not go ahead: the shell gets an empty stdin and exits having run nothing. */
  async abandon(prepared: PreparedShellRun): Promise<void> {
    await prepared.opening?.catch(() => undefined);
    await this.closeSession(prepared);
  }

  async run(prepared: PreparedShellRun, signal: AbortSignal): Promise<ProcessOutput> {
    if (signal.aborted || prepared.cancelled) {
      await this.abandon(prepared);
      throw cancelledError('before it started');
    }
    // Without the pipeline (or with an adapter-level caller), the session opens here.
    await this.open(prepared, signal);
    const child = prepared.process as ShellProcess;
    try {
      if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
      if (child.hasExited) throw new RungateError('TARGET_UNAVAILABLE', `the shell ${prepared.shell} exited before it was given the run; nothing was executed`);
      const parameters = Object.keys(prepared.asenv).length > 0;
      child.send(scriptInput(prepared.body, parameters), parameters ? shellPrelude({ ...prepared.asenv }) : '');
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
      }
    } finally {
      await this.closeSession(prepared);
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

  private async openSession(prepared: PreparedShellRun, signal: AbortSignal): Promise<void> {
    if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
    prepared.workdir = await createWorkdir(this.workdirBase).catch((error: unknown) => {
      throw new RungateError('TARGET_UNAVAILABLE', `cannot create a run directory on this executor host (${(error as NodeJS.ErrnoException).code ?? 'error'}); nothing was executed`);
    });
    try {
      if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
      const child = ShellProcess.spawn({
        shell: prepared.shell,
        cwd: prepared.workdir,
        // No parameter is in the environment: they are sent with the body (scriptInput).
        env: scriptEnvironment(prepared.workdir, prepared.environment, {}),
        maxBytes: prepared.maxBytes,
        killGraceMs: this.killGraceMs,
        parameterPipe: Object.keys(prepared.asenv).length > 0,
      });
      prepared.process = child;
      this.running.add(child);
      await child.spawned;
      // A cancel during the spawn has stopped the shell already.
      if (signal.aborted || prepared.cancelled) throw cancelledError('before it started');
    } catch (error) {
      await this.closeSession(prepared);
      throw error;
    }
  }

  /**
   * Ends a session whichever way it went: a shell still waiting gets an empty stdin (and its
   * group is stopped if it does not exit within the kill grace), then its directory goes.
   * Idempotent.
   */
  private closeSession(prepared: PreparedShellRun): Promise<void> {
    prepared.closing ??= (async () => {
      const child = prepared.process;
      if (child) {
        child.endInput();
        if (!(await settlesWithin(child.finished, this.killGraceMs))) await child.stop();
        await child.finished.catch(() => undefined);
        this.running.delete(child);
      }
      const { workdir } = prepared;
      if (workdir) {
        await removeWorkdir(workdir).catch((error: unknown) =>
          this.log.warn(`run ${prepared.runId}: could not remove its directory ${workdir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`),
        );
      }
    })();
    return prepared.closing;
  }

  /** A missing interpreter refuses the run before anything starts, naming only the path. */
  private checkShell(connection: ConnectionOf<'shell'>): void {
    try {
      if (!statSync(connection.shell).isFile()) throw new InternalError('not a file');
      accessSync(connection.shell, constants.X_OK);
    } catch {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: the shell ${connection.shell} is not an executable file on this executor host; nothing was executed`);
    }
  }
}
