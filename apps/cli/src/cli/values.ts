import { InvalidArgumentError } from '@commander-js/extra-typings';

// Parsers for option values. Commander turns an InvalidArgumentError into one line naming the
// option and the value, and the CLI exits 2 — the same as an unknown option.

export function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0: a free port)');
  return Number(text);
}

export function positiveInteger(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError('expected a positive whole number');
  return Number(text);
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `500ms`, `30s`, `15m`, `8h`, `7d` → milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : NaN;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) throw new InvalidArgumentError('expected a duration such as 500ms, 30s, 15m, 8h or 7d');
  return ms;
}

/** For options that may be given more than once (`--param a=1 --param b=2`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * A problem with how a command was called that only its own logic can see (a value the
 * parser cannot judge alone, a missing database). Exits 2, like commander's own usage errors.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A polling interval: a duration of at least 100 ms. */
export function pollInterval(text: string): number {
  const ms = durationMs(text);
  if (ms < 100) throw new InvalidArgumentError('expected a duration of at least 100ms, e.g. 500ms or 2s');
  return ms;
}
