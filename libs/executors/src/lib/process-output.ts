import type { ProcessOutput } from '@rungate/contracts';

/**
 * Collects a process's stdout and stderr under one byte budget (the run's `maxBytes`),
 * for every executor that runs a script: SSH, Kubernetes exec and the local shell.
 *
 * Bytes beyond the budget are counted but not kept, and `truncated` says so; the process is
 * not stopped for it (a script that prints a lot still finishes and reports its exit code).
 * Text is decoded once at the end, so a UTF-8 sequence split across chunks stays whole;
 * a sequence cut by the budget itself decodes to U+FFFD.
 */
export class ProcessOutputCollector {
  private readonly chunks: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  private kept = 0;
  private seen = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes the process wrote in all, kept or not. */
  get totalBytes(): number {
    return this.seen;
  }

  get truncated(): boolean {
    return this.seen > this.kept;
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.seen += bytes.length;
    const room = this.maxBytes - this.kept;
    if (room <= 0) return;
    const keep = bytes.length <= room ? bytes : bytes.subarray(0, room);
    this.chunks[stream].push(keep);
    this.kept += keep.length;
  }

  /** A writer bound to one stream, for `stream.on('data', …)`. */
  sink(stream: 'stdout' | 'stderr'): (chunk: Buffer | string) => void {
    return (chunk) => this.write(stream, chunk);
  }

  finish(exitCode: number | null): ProcessOutput {
    return {
      kind: 'process',
      exitCode,
      stdout: Buffer.concat(this.chunks.stdout).toString('utf8'),
      stderr: Buffer.concat(this.chunks.stderr).toString('utf8'),
      truncated: this.truncated,
    };
  }
}
