import type { AuditActor } from '@rungate/contracts';

/** How many attempt events one key may leave per window, and how many keys are told apart. */
export interface AttemptLimits {
  /** Attempts recorded one by one per key and window; the rest are counted. */
  events: number;
  windowMs: number;
  /** Keys tracked at once; attempts of further keys share the overflow key until windows end. */
  keys: number;
}

/** The key that collects the attempts of every further key while the table is full. */
export const OVERFLOW_KEY = '*';
/** Who the overflow key's count is about: many callers, none of them told apart. */
const OVERFLOW_ACTOR: AuditActor = { user: '*', groups: [] };

/** One window of one key that counted attempts instead of recording them. */
export interface SuppressedWindow {
  key: string;
  /** The first actor seen under the key in the window: who the count is about. */
  actor: AuditActor;
  start: number;
  end: number;
  /** Attempts recorded one by one in the window (at most `events`). */
  recorded: number;
  /** Attempts counted instead. */
  suppressed: number;
  byCode: Record<string, number>;
}

/** Open windows are kept in the same shape they are handed out in. */
type Window = SuppressedWindow;

/**
 * Per-key fixed windows over attempt events, with no clock and no I/O of its own (callers
 * pass `now`): the first `events` attempts of a key in a window are recorded, the rest are
 * counted, and each window that counted any is handed out once by `drain` after it ends.
 * Memory is bounded by `keys` + 1 windows: a flood from ever new keys (addresses, tokens)
 * lands in the overflow key rather than growing the table.
 */
export class AttemptLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly ended: SuppressedWindow[] = [];

  constructor(private readonly limits: () => AttemptLimits) {}

  /** True: record this attempt. False: it was counted, and a later `drain` reports it. */
  admit(key: string, actor: AuditActor, code: string, now: number): boolean {
    const window = this.windowOf(key, actor, now);
    if (window.recorded < this.limits().events) {
      window.recorded += 1;
      return true;
    }
    this.suppress(window, code);
    return false;
  }

  /** Counts an attempt that is never recorded one by one (a refusal answered before anything was checked). */
  count(key: string, actor: AuditActor, code: string, now: number): void {
    this.suppress(this.windowOf(key, actor, now), code);
  }

  /** The windows that counted attempts and have ended by `now` (every one, when `all`), each handed out once. */
  drain(now: number, all = false): SuppressedWindow[] {
    const out = this.ended.splice(0);
    for (const [key, window] of this.windows) {
      if (!all && window.end > now) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) out.push(snapshot(window));
    }
    return out;
  }

  /** Keys with a window open: bounded by `keys` + 1. */
  get size(): number {
    return this.windows.size;
  }

  private windowOf(key: string, actor: AuditActor, now: number): Window {
    let window = this.windows.get(key);
    if (window && window.end <= now) {
      this.windows.delete(key);
      if (window.suppressed > 0) this.ended.push(snapshot(window));
      window = undefined;
    }
    if (window) return window;
    const limits = this.limits();
    if (key !== OVERFLOW_KEY && this.windows.size >= limits.keys) {
      this.expire(now);
      if (this.windows.size >= limits.keys) return this.windowOf(OVERFLOW_KEY, OVERFLOW_ACTOR, now);
    }
    window = { key, actor, start: now, end: now + limits.windowMs, recorded: 0, suppressed: 0, byCode: {} };
    this.windows.set(key, window);
    return window;
  }

  private expire(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.end > now) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) this.ended.push(snapshot(window));
    }
  }

  private suppress(window: Window, code: string): void {
    window.suppressed += 1;
    window.byCode[code] = (window.byCode[code] ?? 0) + 1;
  }
}

function snapshot(window: Window): SuppressedWindow {
  return { ...window, byCode: { ...window.byCode } };
}
