import { ProcessOutputCollector } from '@rungate/executors';
import type { ClientChannel } from 'ssh2';
import { PgidReader } from './remote-script';
import type { SshLink, SshPool } from './ssh-pool';

/** How long discarding an unused session waits for the server to confirm the channel closed. */
const DISCARD_WAIT_MS = 1000;

/**
 * One run's exec session on a pooled connection: `exec <shell> -s`, whose interpreter waits
 * on its standard input. Nothing of the runbook runs until `send` writes the script; a
 * session discarded before that gets end-of-file and exits having run nothing.
 *
 * Its output is collected from the moment the session opens (a login shell's noise
 * included, as it always was) under the run's byte budget, and its exit status and close
 * are recorded even if they come before the run looks: a shell that could not start
 * reports its exit code, a session that closed with no exit status before its script was
 * sent ran nothing. It holds one of its connection's session slots until it is released.
 */
export class ShellSession {
  readonly output: ProcessOutputCollector;
  /** The exit status, if the server sent one. */
  exit: { code: number | null; signal?: string } | undefined;
  /** Whether the channel closed (both sides). */
  closed = false;
  /** Whether the script was written: from then on the run may have executed. */
  scriptSent = false;
  discarded = false;
  /** Settles when the channel closed. */
  readonly done: Promise<void>;
  private readonly stderr: PgidReader;
  private released = false;

  constructor(
    private readonly pool: SshPool,
    readonly link: SshLink,
    readonly channel: ClientChannel,
    maxBytes: number,
    onPgid: (pgid: number) => void,
  ) {
    this.output = new ProcessOutputCollector(maxBytes);
    this.stderr = new PgidReader(onPgid, this.output.sink('stderr'));
    this.done = new Promise<void>((resolve) => {
      channel.on('close', () => {
        this.closed = true;
        this.stderr.end();
        resolve();
      });
    });
    // Flowing from the start, so a close is seen (ssh2 emits it after the end of stdout).
    channel.on('data', this.output.sink('stdout'));
    channel.stderr.on('data', (chunk: Buffer) => this.stderr.write(chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      this.exit = { code: typeof code === 'number' ? code : null, signal: signalName };
    });
    // Errors surface as a close without an exit status; the listener keeps them from crashing the process.
    channel.on('error', () => undefined);
  }

  /** Whether the session (or its connection) closed before its script was sent, without the shell exiting: nothing ran. */
  get lostBeforeScript(): boolean {
    return this.closed && !this.scriptSent && this.exit === undefined;
  }

  /** Writes the script to the waiting interpreter and ends its input. */
  send(script: string): void {
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
    if (this.scriptSent) throw new Error('a session whose script was sent cannot be discarded');
    if (!this.discarded) {
      this.discarded = true;
      if (!this.closed) {
        this.channel.eof();
        this.channel.close();
      }
      void this.done.then(() => this.release());
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise<void>((resolve) => (timer = setTimeout(resolve, DISCARD_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Gives the session's slot back to the pool; once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.pool.release(this.link);
  }
}
