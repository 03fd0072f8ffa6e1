/** How many failed bearer tokens a source may send per window (gateway.authFailureLimit). */
export interface AuthFailureLimit {
  failures: number;
  windowMs: number;
}

/** Sources and (source, token) pairs remembered at most; the oldest give way. */
const MAX_SOURCES = 10_000;
const MAX_KNOWN_GOOD = 10_000;
/** A token that worked from a source keeps working there, through a block, this long after its last success. */
const KNOWN_GOOD_MS = 3_600_000;

interface FailureWindow {
  start: number;
  failures: number;
}

/**
 * Failed bearer tokens per source address, in fixed windows (no clock of its own: callers pass
 * `now`). A source that reached the limit is refused — answered 429 before its token is even
 * looked at, so guessing gets no faster by sending more — until its window ends. A token that
 * already authenticated from that source is let through (the agent sharing an address with a
 * prober keeps working); successes never count. Memory is bounded: the oldest entries give way.
 */
export class AuthFailures {
  private readonly sources = new Map<string, FailureWindow>();
  private readonly knownGood = new Map<string, number>();

  constructor(private readonly limit: () => AuthFailureLimit) {}

  /** Milliseconds until `source` may try again, or undefined when this request may be authenticated. */
  refusal(source: string, digest: string | undefined, now: number): number | undefined {
    const window = this.current(source, now);
    if (!window || window.failures < this.limit().failures) return undefined;
    if (digest !== undefined && this.isKnownGood(source, digest, now)) return undefined;
    return window.start + this.limit().windowMs - now;
  }

  /** A bearer token from `source` did not authenticate. */
  failed(source: string, now: number): void {
    let window = this.current(source, now);
    if (!window) {
      window = { start: now, failures: 0 };
      this.remember(this.sources, source, window, MAX_SOURCES);
    }
    window.failures += 1;
  }

  /** A bearer token (by its digest) authenticated from `source`. */
  succeeded(source: string, digest: string, now: number): void {
    this.knownGood.delete(pairKey(source, digest));
    this.remember(this.knownGood, pairKey(source, digest), now, MAX_KNOWN_GOOD);
  }

  private current(source: string, now: number): FailureWindow | undefined {
    const window = this.sources.get(source);
    if (window && window.start + this.limit().windowMs <= now) {
      this.sources.delete(source);
      return undefined;
    }
    return window;
  }

  private isKnownGood(source: string, digest: string, now: number): boolean {
    const at = this.knownGood.get(pairKey(source, digest));
    return at !== undefined && now - at < KNOWN_GOOD_MS;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
    // Insertion order is age order: the first key is the oldest.
    while (map.size >= max) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
}

function pairKey(source: string, digest: string): string {
  return `${source}\u0000${digest}`;
}
