import { spawn, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { RungateError, type ProcessOutput } from '@rungate/contracts';
import { ProcessOutputCollector, settlesWithin } from '@rungate/executors';

export interface ShellProcessOptions {
  /** Absolute path of the interpreter; it reads its script on stdin (`<shell> -s`). */
  shell: string;
  cwd: string;
  /** The complete environment: nothing else is inherited. */
  env: Record<string, string>;
  /** stdout and stderr bytes kept, together. */
  maxBytes: number;
  /** How long SIGTERM has to work before the process group gets SIGKILL. */
  killGraceMs: number;
  /**
   * Whether the shell gets a fourth pipe (fd 3) to read the script's parameters from, sent
   * with the script (see `send`), so none of them is in the spawned environment.
   */
  parameterPipe?: boolean;
}

/** How often a terminating group is checked for survivors. */
const POLL_MS = 20;

/**
 * Signals a whole process group; false when no process of it is left. EPERM (a member
 * that became another user, e.g. through sudo) still means the group is there.
 */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Whether any process of the group still runs. A zombie is still a member for kill(2) until
 * its parent reaps it, and orphans are adopted by PID 1 — which, without an init that reaps
 * (a container whose PID 1 is this executor), never does. So when the group still answers,
 * /proc decides; without /proc the group counts as alive.
 */
function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The shell convention for a process killed by a signal: 128 + its number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? null : 128 + number;
}

/**
 * One run's interpreter in a process group of its own (spawned detached, so it leads a new
 * session and group), and everything it starts. It is spawned waiting on its stdin: `send`
 * gives it the script, `endInput` an empty one (it exits having run nothing). Stopping
 * signals the whole group, so background children die with the script; so do children still
 * running when the script itself exits — nothing a run starts outlives it. A process that
 * leaves the group on purpose (`setsid`, a double fork into a new session) escapes this; only
 * a cgroup would catch it.
 */
export class ShellProcess {
  /** Settles once the script exited, its leftovers were stopped and its output collected. */
  readonly finished: Promise<ProcessOutput>;
  /** Settles once the process was spawned; rejects (TARGET_UNAVAILABLE) if it could not be. */
  readonly spawned: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private stopping?: Promise<void>;
  private settled = false;
  private exited = false;
  private inputEnded = false;

  private constructor(private readonly options: ShellProcessOptions) {
    const stdio: StdioOptions = options.parameterPipe ? ['pipe', 'pipe', 'pipe', 'pipe'] : 'pipe';
    this.child = spawn(options.shell, ['-s'], { cwd: options.cwd, env: options.env, detached: true, stdio }) as ChildProcessWithoutNullStreams;
    this.spawned = new Promise<void>((resolve, reject) => {
      this.child.once('spawn', resolve);
      this.child.once('error', (error: NodeJS.ErrnoException) => reject(this.cannotStart(error)));
    });
    this.spawned.catch(() => undefined);
    this.child.once('exit', () => (this.exited = true));
    this.finished = this.collect();
    this.finished.then(
      () => (this.settled = true),
      () => (this.settled = true),
    );
  }

  /** Spawns the shell waiting on its stdin; nothing runs until `send`. */
  static spawn(options: ShellProcessOptions): ShellProcess {
    return new ShellProcess(options);
  }

  /** Spawns the shell and sends it `input` at once. */
  static start(options: ShellProcessOptions & { input: string }): ShellProcess {
    const child = new ShellProcess(options);
    child.send(options.input);
    return child;
  }

  /** Whether the shell already exited (it may have been stopped before it got its script). */
  get hasExited(): boolean {
    return this.exited;
  }

  /**
   * Writes the script to stdin and ends it; `parameters` (only with `parameterPipe`) go to
   * fd 3 and end it. Only the first `send` or `endInput` writes anything.
   */
  send(input: string, parameters = ''): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    const pipe = this.parameterPipe();
    if (pipe) {
      pipe.on('error', () => undefined);
      pipe.end(parameters);
    }
    this.child.stdin.end(input);
  }

  /** Ends stdin (and the parameter pipe) without a script: the shell reads EOF and exits having run nothing. */
  endInput(): void {
    this.send('');
  }

  /** The interpreter's pid, which is also its process group's id; undefined if it never started. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * SIGTERM to the whole group, SIGKILL to whatever is left after the grace period.
   * Idempotent; resolves when the group is gone or has been sent SIGKILL. After the run
   * settled it does nothing, so a late cancel can never signal a reused process id.
   */
  stop(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  /** Last resort when the executor process itself exits: SIGKILL, synchronously. */
  killNow(): void {
    const pgid = this.child.pid;
    if (pgid === undefined || this.settled) return;
    signalGroup(pgid, 'SIGKILL');
  }

  private async terminate(): Promise<void> {
    const pgid = this.child.pid;
    if (pgid === undefined || !signalGroup(pgid, 'SIGTERM')) return;
    const deadline = performance.now() + this.options.killGraceMs;
    while (performance.now() < deadline) {
      await delay(POLL_MS);
      if (!groupAlive(pgid)) return;
    }
    signalGroup(pgid, 'SIGKILL');
  }

  private async collect(): Promise<ProcessOutput> {
    const { child, options } = this;
    const output = new ProcessOutputCollector(options.maxBytes);
    child.stdout.on('data', output.sink('stdout'));
    child.stderr.on('data', output.sink('stderr'));
    // A script may exit without reading all of its input; that is not an error.
    child.stdin.on('error', () => undefined);
    const closed = new Promise<boolean>((resolve) => child.once('close', () => resolve(true)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await exited;
    } catch (error) {
      throw this.cannotStart(error as NodeJS.ErrnoException);
    }
    await this.stop();
    // Output still in the pipes arrives before `close`; a process that escaped the group
    // could hold them open forever, so that wait is bounded too.
    if (!(await settlesWithin(closed, options.killGraceMs))) {
      child.stdout.destroy();
      child.stderr.destroy();
    }
    return output.finish(exitCodeOf(exit.code, exit.signal));
  }

  private parameterPipe(): Writable | undefined {
    return this.options.parameterPipe ? (this.child.stdio[3] as Writable | null) ?? undefined : undefined;
  }

  private cannotStart(error: NodeJS.ErrnoException): RungateError {
    return new RungateError('TARGET_UNAVAILABLE', `cannot start the shell ${this.options.shell} (${error.code ?? 'error'}); nothing was executed`);
  }
}
