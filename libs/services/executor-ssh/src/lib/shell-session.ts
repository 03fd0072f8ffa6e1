import { ProcessOutputCollector, settlesWithin } from '@rungate/executors';
import type { ClientChannel } from 'ssh2';
import { PgidReader } from './remote-script';
import { exitOf } from './channel-exit';
import type { SshLink } from './ssh-pool';
import { InternalError } from '@rungate/contracts';

/** How long discarding an unused session waits for the server to confirm the channel closed. */
const DISCARD_WAIT_MS = 1000;
/** Output a warm spare may produce before a run takes it (a login shell's noise); more and the spare is not used. */
const SPARE_OUTPUT_LIMIT = 64 * 1024;

type Stream = 'stdout' | 'stderr';

/**
 * An exec session on a pooled connection: `exec <shell> -s`, whose interpreter waits on its
 * standard input. Nothing of the runbook runs until `send` writes the script; a session
 * discarded before that gets end-of-file and exits having run nothing.
 *
 * A session belongs to a run once it is `adopt`ed: opened for a run, at once; opened ahead
 * of any run as a connection's warm spare, when a run takes it. Its output is collected from
 * the moment the session opens (a login shell's noise included, as it always was; a spare
 * holds it back until a run adopts it) under that run's byte budget, and its exit status and
 * close are recorded even if they come before the run looks: a shell that could not start
 * reports its exit code, a session that closed with no exit status before its script was
 * sent ran nothing. It holds one of its connection's session slots until it is released.
 */
export class ShellSession {
  /** The exit status, if the server sent one. */
  exit: { code: number | null; signal?: string } | undefined;
  /** Whether the channel closed (both sides). */
  closed = false;
  /** Whether the server ended the session's output (the shell is gone or going). */
  ended = false;
  /** Whether the script was written: from then on the run may have executed. */
  scriptSent = false;
  discarded = false;
  /** Settles when the channel closed. */
  readonly done: Promise<void>;
  /** When the exec request was accepted (for a spare's age). */
  readonly openedAt = performance.now();
  private collector: ProcessOutputCollector | undefined;
  private stderr: PgidReader | undefined;
  /** Output that came before a run adopted the session, in order. */
  private early: { stream: Stream; chunk: Buffer }[] = [];
  private earlyBytes = 0;
  private released = false;

  /**
   * @param spare whether it was opened ahead of any run (a warm spare)
   * @param releaseSlot gives the session's slot back to its pool (replaced when a run takes a spare)
   */
  constructor(
    readonly link: SshLink,
    readonly channel: ClientChannel,
    readonly spare: boolean,
    public releaseSlot: () => void,
  ) {
    // An exit status that came before this object existed (see recordExit).
    this.exit = exitOf(channel);
    this.done = new Promise<void>((resolve) => {
      channel.on('close', () => {
        this.closed = true;
        this.stderr?.end();
        resolve();
      });
    });
    // Flowing from the start, so a close is seen (ssh2 emits it after the end of stdout).
    channel.on('data', (chunk: Buffer) => this.write('stdout', chunk));
    channel.on('end', () => (this.ended = true));
    channel.stderr.on('data', (chunk: Buffer) => this.write('stderr', chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      this.exit = { code: typeof code === 'number' ? code : null, signal: signalName };
    });
    // Errors surface as a close without an exit status; the listener keeps them from crashing the process.
    channel.on('error', () => undefined);
  }

  /** The run's output; only once adopted. */
  get output(): ProcessOutputCollector {
    if (!this.collector) throw new InternalError('the session has not been adopted by a run');
    return this.collector;
  }

  get adopted(): boolean {
    return this.collector !== undefined;
  }

  /**
   * Whether the session can no longer take a script: discarded, its shell exited, its output
   * ended, the channel closed, or (a spare) it printed more than a login shell should before
   * any script.
   */
  get dead(): boolean {
    return this.discarded || this.closed || this.ended || this.exit !== undefined || this.earlyBytes > SPARE_OUTPUT_LIMIT;
  }

  /**
   * Whether the session (or its connection) went before its script was sent, so that nothing
   * ran and the run may open another. A session opened for its run counts only if it closed
   * without the shell exiting (a shell that exited on its own, e.g. a missing `shell`, is the
   * run's result); a spare, opened before the run existed, counts whenever it died.
   */
  get lostBeforeScript(): boolean {
    if (this.scriptSent) return false;
    return this.spare ? this.dead && !this.discarded : this.closed && this.exit === undefined;
  }

  /** Makes the session a run's: its byte budget, where the pgid goes, and whatever came already. */
  adopt(maxBytes: number, onPgid: (pgid: number) => void): void {
    if (this.collector) throw new InternalError('the session already belongs to a run');
    const collector = new ProcessOutputCollector(maxBytes);
    this.collector = collector;
    this.stderr = new PgidReader(onPgid, collector.sink('stderr'));
    const early = this.early;
    this.early = [];
    for (const { stream, chunk } of early) this.write(stream, chunk);
    if (this.closed) this.stderr.end();
  }

  /** Writes the script to the waiting interpreter and ends its input. */
  send(script: string): void {
    if (!this.collector) throw new InternalError('the session has not been adopted by a run');
    this.scriptSent = true;
    if (!this.closed) this.channel.end(script);
  }

  /**
   * Closes a session whose script was never sent: end-of-file on the interpreter's stdin
   * and a channel close, nothing written. Its slot is released once the server confirmed
   * the close (or the connection went); resolves then, or after a short wait at most — a
   * host that stopped answering is left to the keep-alives, which drop its connection.
   */
  async discard(): Promise<void> {
    if (this.scriptSent) throw new InternalError('a session whose script was sent cannot be discarded');
    if (!this.discarded) {
      this.discarded = true;
      if (!this.closed) {
        this.channel.eof();
        this.channel.close();
      }
      void this.done.then(() => this.release());
    }
    await settlesWithin(this.done, DISCARD_WAIT_MS);
  }

  /** Gives the session's slot back to the pool; once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.releaseSlot();
  }

  private write(stream: Stream, chunk: Buffer): void {
    if (this.collector && this.stderr) {
      if (stream === 'stderr') this.stderr.write(chunk);
      else this.collector.write('stdout', chunk);
      return;
    }
    this.earlyBytes += chunk.length;
    if (this.earlyBytes <= SPARE_OUTPUT_LIMIT) this.early.push({ stream, chunk });
  }
}
