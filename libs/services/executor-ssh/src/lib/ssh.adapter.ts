import type { SshConnectionConfig } from '@rungate/config';
import { CommandRequest, RungateError, type ProcessOutput, type RunTicketClaims, InternalError } from '@rungate/contracts';
import { type ExecutorAdapter, type PipelineLog } from '@rungate/executors';
import { isCommandArgv } from '@rungate/exploration';
import type { ClientChannel } from 'ssh2';
import { killGroupCommand, remoteCommand, remoteScript, shellQuote } from './remote-script';
import { ShellSession } from './shell-session';
import { SshLink, type Spare, type SshPool } from './ssh-pool';
import type { SshTargets } from './ssh-targets';

/** TERM first; whatever in the run's process group is still alive this much later gets KILL. */
const DEFAULT_KILL_AFTER_MS = 1500;
/** A cancelled run whose channel is still open this long after the kill is cut loose from the host. */
const FORCE_CLOSE_MARGIN_MS = 1000;
/** A kill command that does not finish in this much beyond its own wait has failed. */
const KILL_COMMAND_MARGIN_MS = 5000;
/** A warm spare session no run took for this long is closed (and replaced only when the connection is used again). */
const DEFAULT_SPARE_MAX_AGE_MS = 60_000;

export interface PreparedSshRun {
  readonly runId: string;
  readonly connection: string;
  readonly pool: SshPool;
  /** The exec request: the interpreter, reporting its process group first. */
  readonly command: string;
  /** What the interpreter reads on stdin: the exports and the body. */
  readonly script: string;
  readonly maxBytes: number;
  /** The run's session (an interpreter waiting on stdin until the script is sent), once opened. */
  session?: ShellSession;
  /** The connection the run's script was sent on. */
  link?: SshLink;
  /** The remote shell's process group, once it reported it. */
  pgid?: number;
  cancelRequested?: boolean;
  killing?: Promise<void>;
  finished?: boolean;
}

export interface SshAdapterOptions {
  killAfterMs?: number;
  /** How long a warm spare session may wait for a run before it is closed (default 60 s). */
  spareMaxAgeMs?: number;
}

function cancelled(when: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `the run was cancelled ${when}; nothing was executed`);
}

/** ssh2's error for a session that could not be opened because the connection is gone. */
function isStaleConnection(link: SshLink, error: unknown): boolean {
  return link.closed || (error instanceof Error && /Not connected|No response from server/.test(error.message));
}

/**
 * SSH hosts: each run is one exec session on a pooled, host-key-pinned connection. The
 * interpreter (`sh`, or the connection's `shell`) reads the `asenv` exports and the body on
 * stdin; stdout and stderr come back under one byte budget with the exit code. A cancel
 * kills the run's whole process group on the host, background children included.
 *
 * A shell script cannot be rolled back, so dry runs are refused before anything runs, and
 * `@readonly` cannot be enforced on a host (it is audited as declared).
 */
export class SshAdapter implements ExecutorAdapter<'ssh', PreparedSshRun> {
  readonly type = 'ssh' as const;
  readonly explores = ['explore_command'] as const;
  private readonly killAfterMs: number;
  private readonly spareMaxAgeMs: number;

  constructor(
    private readonly targets: SshTargets,
    private readonly log: PipelineLog,
    options: SshAdapterOptions = {},
  ) {
    this.killAfterMs = options.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
    this.spareMaxAgeMs = options.spareMaxAgeMs ?? DEFAULT_SPARE_MAX_AGE_MS;
  }

  /** Warm spare sessions open (or opening) on all connections: for tests and metrics. */
  get spares(): number {
    return this.targets.spares;
  }

  prepare(claims: RunTicketClaims, body: string, connection: SshConnectionConfig): PreparedSshRun {
    if (claims.dryRun) {
      throw new RungateError(
        'INVALID_PARAMS',
        `dryRun: ${connection.name} is an SSH connection, and a shell script cannot be dry-run (nothing can roll back what it did); nothing was executed. ` +
          'Call the runbook without dryRun once its parameters are right.',
        { parameter: 'dryRun', constraint: 'language' },
      );
    }
    return {
      runId: claims.runId,
      connection: connection.name,
      script: remoteScript(claims.env, claims.explore ? this.allowedCommand(body, connection) : body),
      command: remoteCommand(connection.shell),
      pool: this.targets.poolFor(connection),
      // The executor's own configuration caps what a ticket may ask for.
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
    };
  }

  /**
   * An exploration's command line (ADR 19): the ticket's argv only if this executor's own
   * `explore.commands` produce exactly it, every word single-quoted — one argument each, never
   * expanded, no shell syntax of the caller's. Anything else is refused before the host is asked.
   */
  private allowedCommand(body: string, connection: SshConnectionConfig): string {
    let request: CommandRequest | undefined;
    try {
      request = CommandRequest.parse(JSON.parse(body));
    } catch {
      request = undefined;
    }
    const command = request && connection.explore?.commands.find((candidate) => candidate.name === request.command);
    if (!request || !command || !isCommandArgv(command, request.argv)) {
      throw new RungateError('EXPLORATION_REFUSED', `${connection.name} allows no such command in its explore.commands; nothing was executed`);
    }
    return request.argv.map(shellQuote).join(' ');
  }

  /**
   * Opens the run's session: a pooled connection, and on it an exec session whose
   * interpreter waits on stdin (ADR 9). Sends nothing of the runbook; settles as soon as
   * `signal` aborts; on failure nothing is left open.
   */
  async open(prepared: PreparedSshRun, signal: AbortSignal): Promise<void> {
    if (prepared.session) throw new InternalError(`run ${prepared.runId}: its session is already open`);
    if (signal.aborted || prepared.cancelRequested) throw cancelled('before it started');
    const session = await this.openSession(prepared, signal);
    if (prepared.finished) {
      // Abandoned while it opened (the pipeline waits for open first; a direct caller might not).
      void session.discard();
      throw cancelled('before its script was sent');
    }
    prepared.session = session;
  }

  /** Closes the session `open` set up for a run that will not go ahead, having sent nothing. */
  async abandon(prepared: PreparedSshRun): Promise<void> {
    prepared.finished = true;
    const { session } = prepared;
    if (session && !session.scriptSent) await session.discard();
  }

  /** Sends the script in the session `open` set up (or opens one now) and collects its output. */
  async run(prepared: PreparedSshRun, signal: AbortSignal): Promise<ProcessOutput> {
    try {
      if (signal.aborted || prepared.cancelRequested) throw cancelled('before it started');
      if (!prepared.session) prepared.session = await this.openSession(prepared, signal);
      if (prepared.session.lostBeforeScript) {
        // The session (or its connection) went while the run was being recorded; nothing ran.
        this.log.log(`run ${prepared.runId}: connection ${prepared.connection}: the SSH session closed before its script was sent; opening another`);
        void prepared.session.discard();
        prepared.session = undefined;
        prepared.session = await this.openSession(prepared, signal);
      }
      const { session } = prepared;
      if (signal.aborted || prepared.cancelRequested || session.discarded) throw cancelled('before its script was sent');
      prepared.link = session.link;
      return await this.collect(prepared, session, signal);
    } finally {
      prepared.finished = true;
      const { session } = prepared;
      if (session?.scriptSent) session.release();
      else if (session) void session.discard();
    }
  }

  async cancel(prepared: PreparedSshRun): Promise<void> {
    if (prepared.finished) return;
    prepared.cancelRequested = true;
    // A session still waiting for its script is closed unused (an open in progress sees the request once it has one).
    const { session } = prepared;
    if (session && !session.scriptSent) void session.discard();
    this.killIfRequested(prepared);
    await prepared.killing;
  }

  async close(): Promise<void> {
    await this.targets.close();
  }

  /**
   * Opens a session: the connection's warm spare if it has one (opened ahead of any run, sent
   * nothing), else a new one; then, in the background, the connection's next spare. A reused
   * connection may have died without our noticing yet (the server restarted, a NAT dropped
   * it); then the session is opened once more on a fresh connection. That is safe: the script
   * is sent only after the server accepted the exec request, so nothing ran on the dead one.
   */
  private async openSession(prepared: PreparedSshRun, signal: AbortSignal): Promise<ShellSession> {
    for (let attempt = 1; ; attempt++) {
      const { link, spare } = await prepared.pool.acquire(signal);
      if (spare) {
        const session = await this.fromSpare(prepared, link, spare, signal);
        if (session) return this.opened(prepared, link, session, signal);
        // The spare was gone (killed on the host, the connection dropped): its slot opens a session as before.
      }
      const reused = link.served;
      let channel: ClientChannel;
      try {
        channel = await this.execUnlessAborted(prepared, link, signal);
      } catch (error) {
        if (error instanceof RungateError) throw error;
        prepared.pool.release(link);
        const { connection, address } = link.context();
        if (isStaleConnection(link, error)) {
          prepared.pool.evict(link);
          if (reused && attempt === 1) {
            this.log.log(`run ${prepared.runId}: connection ${connection}: a pooled SSH connection was gone; reconnecting`);
            continue;
          }
          throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection} (${address}): the SSH connection closed before the run started; nothing was executed`);
        }
        throw new RungateError(
          'TARGET_UNAVAILABLE',
          `connection ${connection} (${address}): the server refused to start a session (it may have reached its MaxSessions, or forbids commands for this user); nothing was executed`,
        );
      }
      link.served = true;
      return this.opened(prepared, link, this.session(prepared, link, channel), signal);
    }
  }

  /** A run's session is open: the connection gets its next warm spare, unless the run was called off meanwhile. */
  private opened(prepared: PreparedSshRun, link: SshLink, session: ShellSession, signal: AbortSignal): ShellSession {
    if (signal.aborted || prepared.cancelRequested) {
      // The interpreter got no script: it reads end-of-file and exits without running anything.
      void session.discard();
      throw cancelled('before its script was sent');
    }
    prepared.pool.replenish(link, this.spareMaxAgeMs);
    return session;
  }

  /**
   * Makes the spare the run took the run's session; waits for it if it is still opening
   * (settling at once if `signal` aborts: the late spare is closed unused). Undefined if the
   * spare is gone or dead; the run keeps the slot and opens a session as before.
   */
  private async fromSpare(prepared: PreparedSshRun, link: SshLink, spare: Spare, signal: AbortSignal): Promise<ShellSession | undefined> {
    const session =
      spare.session ??
      (await new Promise<ShellSession | undefined>((resolve, reject) => {
        let gaveUp = false;
        const onAbort = () => {
          gaveUp = true;
          reject(cancelled('before its session was opened'));
          void spare.opened.then(async (late) => {
            if (late) await late.discard();
            prepared.pool.release(link);
          });
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        void spare.opened.then((opened) => {
          if (gaveUp) return;
          signal.removeEventListener('abort', onAbort);
          resolve(opened);
        });
      }));
    if (!session) return undefined;
    if (session.dead) {
      void session.discard();
      return undefined;
    }
    session.releaseSlot = () => prepared.pool.release(link);
    this.adopt(prepared, session);
    return session;
  }

  private session(prepared: PreparedSshRun, link: SshLink, channel: ClientChannel): ShellSession {
    const session = new ShellSession(link, channel, false, () => prepared.pool.release(link));
    this.adopt(prepared, session);
    return session;
  }

  private adopt(prepared: PreparedSshRun, session: ShellSession): void {
    session.adopt(prepared.maxBytes, (pgid) => {
      prepared.pgid = pgid;
      this.killIfRequested(prepared);
    });
  }

  /**
   * The exec request, given up on as soon as `signal` aborts (a cancelled `RungateError`),
   * so opening settles promptly even if the server is slow to answer. Should the server
   * accept it after all, that session is closed unused and its slot released then.
   */
  private execUnlessAborted(prepared: PreparedSshRun, link: SshLink, signal: AbortSignal): Promise<ClientChannel> {
    if (signal.aborted) {
      prepared.pool.release(link);
      return Promise.reject(cancelled('before its session was opened'));
    }
    const exec = link.exec(prepared.command);
    return new Promise<ClientChannel>((resolve, reject) => {
      let gaveUp = false;
      const onAbort = () => {
        gaveUp = true;
        reject(cancelled('before its session was opened'));
        exec.then(
          (channel) => void this.session(prepared, link, channel).discard(),
          () => prepared.pool.release(link),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      exec.then(
        (channel) => {
          if (gaveUp) return;
          signal.removeEventListener('abort', onAbort);
          resolve(channel);
        },
        (error: unknown) => {
          if (gaveUp) return;
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Sends the script and waits for the session to close; a cancel's kill ends it early. */
  private async collect(prepared: PreparedSshRun, session: ShellSession, signal: AbortSignal): Promise<ProcessOutput> {
    const { link, channel } = session;
    const timers: NodeJS.Timeout[] = [];
    // Should the kill not end the session (a host that stopped answering), cut it loose.
    const onAbort = () => {
      timers.push(
        setTimeout(() => channel.close(), this.killAfterMs + FORCE_CLOSE_MARGIN_MS),
        setTimeout(() => prepared.pool.evict(link), this.killAfterMs + 3 * FORCE_CLOSE_MARGIN_MS),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    session.send(prepared.script);
    try {
      await session.done;
    } finally {
      for (const timer of timers) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
    const { connection, address } = link.context();
    const { exit } = session;
    if (signal.aborted) {
      const how = exit?.signal ? `it ended on ${exit.signal}` : exit ? `it exited with ${exit.code}` : 'its session was closed';
      const group = prepared.pgid === undefined ? 'the script' : `the script's process group ${prepared.pgid}`;
      throw new RungateError('EXECUTION_FAILED', `${group} on ${connection} was sent TERM (then KILL); ${how}`);
    }
    if (exit === undefined) {
      throw new RungateError(
        'OUTCOME_UNKNOWN',
        `connection ${connection} (${address}): the SSH connection dropped while the script ran; it may have run in part, and may still be running on the host — check before running it again`,
      );
    }
    return session.output.finish(exit.code);
  }

  private killIfRequested(prepared: PreparedSshRun): void {
    const { link, pgid } = prepared;
    if (!prepared.cancelRequested || prepared.killing || prepared.finished || !link || pgid === undefined) return;
    prepared.killing = this.killGroup(prepared, link, pgid).catch((error: unknown) => {
      this.log.warn(`run ${prepared.runId}: could not kill process group ${pgid} on ${prepared.connection}: ${error instanceof RungateError ? error.message : 'the kill command failed'}`);
    });
  }

  /**
   * Runs the kill in a session of its own on the run's connection; if that connection cannot
   * open one (gone, or at the server's MaxSessions), on a connection of its own.
   */
  private async killGroup(prepared: PreparedSshRun, link: SshLink, pgid: number): Promise<void> {
    const command = killGroupCommand(pgid, this.killAfterMs);
    this.log.log(`run ${prepared.runId}: killing process group ${pgid} on ${prepared.connection}`);
    try {
      await this.runToEnd(link, command);
      return;
    } catch {
      if (prepared.finished) return;
    }
    const spare = new SshLink(link.endpoint, this.log, () => undefined);
    try {
      await spare.ready;
      await this.runToEnd(spare, command);
    } finally {
      spare.end();
    }
  }

  private async runToEnd(link: SshLink, command: string): Promise<void> {
    const channel = await link.exec(command);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        channel.close();
        reject(new InternalError('kill command timed out'));
      }, this.killAfterMs + KILL_COMMAND_MARGIN_MS);
      channel.on('error', () => undefined);
      channel.resume();
      channel.stderr.resume();
      channel.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      channel.end();
    });
  }
}
