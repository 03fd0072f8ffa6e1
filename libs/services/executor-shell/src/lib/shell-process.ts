import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { RungateError, type ProcessOutput } from '@rungate/contracts';
import { ProcessOutputCollector } from '@rungate/executors';

export interface ShellProcessOptions {
  /** Absolute path of the interpreter; it reads `input` on stdin (`<shell> -s`). */
  shell: string;
  input: string;
  cwd: string;
  /** The complete environment: nothing else is inherited. */
  env: Record<string, string>;
  /** stdout and stderr bytes kept, together. */
  maxBytes: number;
  /** How long SIGTERM has to work before the process group gets SIGKILL. */
  killGraceMs: number;
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
 * session and group), and everything it starts. Stopping signals the whole group, so
 * background children die with the script; so do children still running when the script
 * itself exits — nothing a run starts outlives it. A process that leaves the group on purpose
 * (`setsid`, a double fork into a new session) escapes this; only a cgroup would catch it.
 */
export class ShellProcess {
  /** Settles once the script exited, its leftovers were stopped and its output collected. */
  readonly finished: Promise<ProcessOutput>;
  private readonly child: ChildProcessWithoutNullStreams;
  private stopping?: Promise<void>;
  private settled = false;

  private constructor(private readonly options: ShellProcessOptions) {
    this.child = spawn(options.shell, ['-s'], { cwd: options.cwd, env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.finished = this.collect();
    this.finished.then(
      () => (this.settled = true),
      () => (this.settled = true),
    );
  }

  static start(options: ShellProcessOptions): ShellProcess {
    return new ShellProcess(options);
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
    child.stdin.end(options.input);
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await exited;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new RungateError('TARGET_UNAVAILABLE', `cannot start the shell ${options.shell} (${code}); nothing was executed`);
    }
    await this.stop();
    // Output still in the pipes arrives before `close`; a process that escaped the group
    // could hold them open forever, so that wait is bounded too.
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([closed, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), options.killGraceMs)))]);
    clearTimeout(timer);
    if (!drained) {
      child.stdout.destroy();
      child.stderr.destroy();
    }
    return output.finish(exitCodeOf(exit.code, exit.signal));
  }
}
