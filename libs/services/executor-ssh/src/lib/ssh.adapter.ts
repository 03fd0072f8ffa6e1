import type { SshConnectionConfig } from '@rungate/config';
import { RungateError, type ProcessOutput, type RunTicketClaims } from '@rungate/contracts';
import { ProcessOutputCollector, type ExecutorAdapter, type PipelineLog } from '@rungate/executors';
import type { ClientChannel } from 'ssh2';
import { PgidReader, killGroupCommand, remoteCommand, remoteScript } from './remote-script';
import { SshLink, type SshPool } from './ssh-pool';
import type { SshTargets } from './ssh-targets';

/** TERM first; whatever in the run's process group is still alive this much later gets KILL. */
const DEFAULT_KILL_AFTER_MS = 1500;
/** A cancelled run whose channel is still open this long after the kill is cut loose from the host. */
const FORCE_CLOSE_MARGIN_MS = 1000;
/** A kill command that does not finish in this much beyond its own wait has failed. */
const KILL_COMMAND_MARGIN_MS = 5000;

export interface PreparedSshRun {
  readonly runId: string;
  readonly connection: string;
  readonly pool: SshPool;
  /** The exec request: the interpreter, reporting its process group first. */
  readonly command: string;
  /** What the interpreter reads on stdin: the exports and the body. */
  readonly script: string;
  readonly maxBytes: number;
  /** The connection the run's session is on, once it has one. */
  link?: SshLink;
  /** The remote shell's process group, once it reported it. */
  pgid?: number;
  cancelRequested?: boolean;
  killing?: Promise<void>;
  finished?: boolean;
}

export interface SshAdapterOptions {
  killAfterMs?: number;
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
  private readonly killAfterMs: number;

  constructor(
    private readonly targets: SshTargets,
    private readonly log: PipelineLog,
    options: SshAdapterOptions = {},
  ) {
    this.killAfterMs = options.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
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
      script: remoteScript(claims.env, body),
      command: remoteCommand(connection.shell),
      pool: this.targets.poolFor(connection),
      // The executor's own configuration caps what a ticket may ask for.
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
    };
  }

  async run(prepared: PreparedSshRun, signal: AbortSignal): Promise<ProcessOutput> {
    if (signal.aborted) throw cancelled('before it started');
    const { link, channel } = await this.openSession(prepared, signal);
    prepared.link = link;
    try {
      return await this.collect(prepared, link, channel, signal);
    } finally {
      prepared.finished = true;
      prepared.pool.release(link);
    }
  }

  async cancel(prepared: PreparedSshRun): Promise<void> {
    if (prepared.finished) return;
    prepared.cancelRequested = true;
    this.killIfRequested(prepared);
    await prepared.killing;
  }

  async close(): Promise<void> {
    this.targets.close();
  }

  /**
   * Opens the run's session. A reused connection may have died without our noticing yet (the
   * server restarted, a NAT dropped it); then the session is opened once more on a fresh
   * connection. That is safe: the script is sent only after the server accepted the exec
   * request, so nothing ran on the dead one.
   */
  private async openSession(prepared: PreparedSshRun, signal: AbortSignal): Promise<{ link: SshLink; channel: ClientChannel }> {
    for (let attempt = 1; ; attempt++) {
      const link = await prepared.pool.acquire(signal);
      const reused = link.served;
      let channel: ClientChannel;
      try {
        channel = await link.exec(prepared.command);
      } catch (error) {
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
      if (signal.aborted) {
        // The interpreter got no script: it reads end-of-file and exits without running anything.
        channel.close();
        prepared.pool.release(link);
        throw cancelled('before its script was sent');
      }
      return { link, channel };
    }
  }

  private collect(prepared: PreparedSshRun, link: SshLink, channel: ClientChannel, signal: AbortSignal): Promise<ProcessOutput> {
    return new Promise<ProcessOutput>((resolve, reject) => {
      const output = new ProcessOutputCollector(prepared.maxBytes);
      const stderr = new PgidReader((pgid) => {
        prepared.pgid = pgid;
        this.killIfRequested(prepared);
      }, output.sink('stderr'));
      let exit: { code: number | null; signal?: string } | undefined;
      const timers: NodeJS.Timeout[] = [];
      // Should the kill not end the session (a host that stopped answering), cut it loose.
      const onAbort = () => {
        timers.push(
          setTimeout(() => channel.close(), this.killAfterMs + FORCE_CLOSE_MARGIN_MS),
          setTimeout(() => prepared.pool.evict(link), this.killAfterMs + 3 * FORCE_CLOSE_MARGIN_MS),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      channel.on('data', output.sink('stdout'));
      channel.stderr.on('data', (chunk: Buffer) => stderr.write(chunk));
      channel.on('exit', (code: number | null, signalName?: string) => {
        exit = { code: typeof code === 'number' ? code : null, signal: signalName };
      });
      // Errors surface as a close without an exit status; the listener keeps them from crashing the process.
      channel.on('error', () => undefined);
      channel.on('close', () => {
        for (const timer of timers) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        stderr.end();
        const { connection, address } = link.context();
        if (signal.aborted) {
          const how = exit?.signal ? `it ended on ${exit.signal}` : exit ? `it exited with ${exit.code}` : 'its session was closed';
          const group = prepared.pgid === undefined ? 'the script' : `the script's process group ${prepared.pgid}`;
          reject(new RungateError('EXECUTION_FAILED', `${group} on ${connection} was sent TERM (then KILL); ${how}`));
        } else if (exit === undefined) {
          reject(
            new RungateError(
              'OUTCOME_UNKNOWN',
              `connection ${connection} (${address}): the SSH connection dropped while the script ran; it may have run in part, and may still be running on the host — check before running it again`,
            ),
          );
        } else {
          resolve(output.finish(exit.code));
        }
      });
      channel.end(prepared.script);
    });
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
        reject(new Error('kill command timed out'));
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
