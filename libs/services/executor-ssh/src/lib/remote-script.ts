import { shellPrelude } from '@rungate/executors';
import { InternalError } from '@rungate/contracts';

/** POSIX single quotes keep every byte literal; a quote itself is closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** What the remote interpreter writes first on stderr: its pid, which is also its process group id. */
export const PGID_MARKER = 'rungate-pgid=';
/** Login noise (a chatty .bashrc) allowed on stderr before the marker; beyond it the marker is given up on. */
export const PGID_SEARCH_LIMIT = 64 * 1024;

/**
 * The command sent in the SSH exec request: `exec <shell> -s`, which every login shell
 * (POSIX or not) understands. sshd runs it as `<login shell> -c <command>` in a session of
 * its own (OpenSSH calls setsid() for every session), so the login shell leads the run's
 * process group, and `exec` hands its pid on to the interpreter. A cancel kills that whole
 * group, background children included.
 */
export function remoteCommand(shell = 'sh'): string {
  return `exec ${shellQuote(shell)} -s`;
}

/**
 * The script fed to `<shell> -s`. Its first line reports the interpreter's pid (its process
 * group id) on stderr; then come the `asenv` exports and the body, as one brace group reading
 * from /dev/null. A shell executes a compound command only once it has read all of it, so
 * nothing of the body runs before the whole script arrived (a connection dropped mid-upload
 * runs none of it), and no command in the body can read the rest of the script as its input.
 */
export function remoteScript(env: Record<string, string>, body: string): string {
  return `printf '${PGID_MARKER}%s\\n' "$$" >&2\n{\n${shellPrelude(env)}${body}\n} </dev/null\n`;
}

/**
 * Kills a run's process group on the host: TERM, then KILL if anything in the group is
 * still alive after `killAfterMs`. Runs in a session of its own, never in the run's group.
 * Falls back to the single process should the pid not lead a group (a server that does not
 * call setsid()).
 */
export function killGroupCommand(pgid: number, killAfterMs: number): string {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) throw new InternalError(`not a process group id: ${pgid}`);
  const tenths = Math.max(1, Math.ceil(killAfterMs / 100));
  const script = [
    `p=${pgid}`,
    'kill -TERM -$p 2>/dev/null || { kill -TERM $p 2>/dev/null; exit 0; }',
    'i=0',
    'while kill -0 -$p 2>/dev/null; do',
    `  if [ $i -ge ${tenths} ]; then kill -KILL -$p 2>/dev/null; exit 0; fi`,
    '  sleep 0.1 2>/dev/null || sleep 1',
    '  i=$((i+1))',
    'done',
  ].join('\n');
  return `exec /bin/sh -c ${shellQuote(script)}`;
}

/**
 * Reads the remote shell's pid from the start of its stderr and passes everything after the
 * marker line on. Whatever a login shell printed before the marker is dropped: it is not the
 * script's output. If no marker shows up within the search limit, the buffered bytes are
 * passed on as they were and the run simply has no process group to kill.
 */
export class PgidReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(
    private readonly onPgid: (pgid: number) => void,
    private readonly pass: (chunk: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.done) {
      this.pass(chunk);
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const seen = Buffer.concat(this.pending);
    const match = new RegExp(`${PGID_MARKER}(\\d+)\\n`).exec(seen.toString('latin1'));
    if (match) {
      this.done = true;
      this.pending = [];
      this.onPgid(Number(match[1]));
      const rest = seen.subarray(match.index + match[0].length);
      if (rest.length > 0) this.pass(rest);
      return;
    }
    if (this.pendingBytes > PGID_SEARCH_LIMIT) this.giveUp();
  }

  /** The stream ended: anything still held back is output after all. */
  end(): void {
    if (!this.done) this.giveUp();
  }

  private giveUp(): void {
    this.done = true;
    const held = Buffer.concat(this.pending);
    this.pending = [];
    if (held.length > 0) this.pass(held);
  }
}
