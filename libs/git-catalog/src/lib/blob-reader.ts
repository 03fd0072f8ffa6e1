import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { InternalError } from '@rungate/contracts';

export interface GitObject {
  oid: string;
  type: string;
  content: Buffer;
}

interface Pending {
  resolve: (object: GitObject | undefined) => void;
  reject: (error: Error) => void;
}

/**
 * One long-lived `git cat-file --batch` per repository: reading an object costs a line on
 * stdin instead of a process (~0.05 ms instead of ~12 ms), which is what lets a catalog of
 * 10,000 runbooks build in seconds and content-by-commit answer in well under a millisecond.
 * Requests are answered in order, so callers may interleave freely.
 */
export class BlobReader {
  private child?: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private expected?: { oid: string; type: string; size: number };
  private closed = false;

  constructor(
    private readonly gitDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * Reads an object by name: a blob id or `<commit>:<path>`. Resolves undefined when it does
   * not exist. Names must be one line (they are sent as a line to git).
   */
  read(name: string): Promise<GitObject | undefined> {
    if (this.closed) return Promise.reject(new InternalError('the blob reader is closed'));
    if (/[\n\r\0]/.test(name)) return Promise.resolve(undefined);
    const child = this.process();
    return new Promise<GitObject | undefined>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      child.stdin.write(`${name}\n`);
    });
  }

  close(): void {
    this.closed = true;
    this.stop(new InternalError('the blob reader is closed'));
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['cat-file', '--batch'], { cwd: this.gitDir, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    child.stdin.on('error', () => undefined);
    const fail = (reason: string) => {
      if (this.child !== child) return;
      this.stop(new InternalError(`git cat-file ${reason}${stderr ? `: ${stderr.trim()}` : ''}`));
    };
    child.on('error', (error) => fail(`could not start (${error.message})`));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    this.child = child;
    return child;
  }

  private stop(error: Error): void {
    const child = this.child;
    this.child = undefined;
    this.buffer = Buffer.alloc(0);
    this.expected = undefined;
    child?.stdin.end();
    if (child && child.exitCode === null) child.kill();
    for (const request of this.pending.splice(0)) request.reject(error);
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (!this.expected) {
        const newline = this.buffer.indexOf(10);
        if (newline < 0) return;
        const header = this.buffer.subarray(0, newline).toString('utf8');
        this.buffer = this.buffer.subarray(newline + 1);
        // "<oid> <type> <size>", or "<name> missing" / "<name> ambiguous".
        const match = /^([0-9a-f]+) ([a-z]+) (\d+)$/.exec(header);
        if (!match) {
          this.pending.shift()?.resolve(undefined);
          continue;
        }
        this.expected = { oid: match[1] as string, type: match[2] as string, size: Number(match[3]) };
      }
      if (this.buffer.length < this.expected.size + 1) return;
      const content = Buffer.from(this.buffer.subarray(0, this.expected.size));
      this.buffer = this.buffer.subarray(this.expected.size + 1);
      const { oid, type } = this.expected;
      this.expected = undefined;
      this.pending.shift()?.resolve({ oid, type, content });
    }
  }
}
