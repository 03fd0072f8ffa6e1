import { createHash } from 'node:crypto';
import type { GatewayCancel } from '@rungate/contracts';

/** Which call a cancellation means: whose (the bearer's digest), in which MCP session, which JSON-RPC id. */
export interface CallKey {
  caller: string;
  session?: string;
  requestId: string | number;
}

export type CancelOutcome = 'cancelled' | 'unknown' | 'ambiguous';

/**
 * How long a cancellation that found no call here is kept, for a call that reaches this
 * replica after its own cancellation (both are separate POSTs, authenticated separately).
 */
export const EARLY_CANCEL_MEMORY_MS = 30_000;
const MAX_EARLY_CANCELS = 10_000;

/** The digest that names a caller: their bearer token, so only its holder can cancel their calls. */
export function callerDigest(bearer: string): string {
  return createHash('sha256').update(bearer).digest('hex');
}

function keyOf(key: CallKey): string {
  // A string id and a number id are different requests (the SDK matches them exactly).
  return JSON.stringify([key.caller, key.session ?? null, typeof key.requestId, String(key.requestId)]);
}

export function callKeyOf(cancel: GatewayCancel): CallKey {
  return { caller: cancel.caller, requestId: cancel.requestId, ...(cancel.session === undefined ? {} : { session: cancel.session }) };
}

/**
 * The `tools/call` requests this gateway replica is serving, so a `notifications/cancelled`
 * (its own POST, possibly at another replica, relayed over the bus) can stop the right one.
 *
 * A cancellation with a session id that finds no call is remembered briefly: the call may
 * still be authenticating. Without a session id it is not — two clients sharing one token
 * both number their requests from 0, and an old cancellation must not stop the other's call.
 * For the same reason a cancellation matching more than one call stops none.
 */
export class InFlightCalls {
  private readonly calls = new Map<string, Set<AbortController>>();
  private readonly earlyCancels = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Tracks a call until the returned function is called; its controller aborts on cancellation. */
  register(key: CallKey, call: AbortController): () => void {
    const id = keyOf(key);
    if (this.takeEarlyCancel(id)) call.abort('cancelled');
    let same = this.calls.get(id);
    if (!same) {
      same = new Set();
      this.calls.set(id, same);
    }
    same.add(call);
    return () => {
      same.delete(call);
      if (same.size === 0 && this.calls.get(id) === same) this.calls.delete(id);
    };
  }

  cancel(key: CallKey): CancelOutcome {
    const id = keyOf(key);
    const same = this.calls.get(id);
    if (!same || same.size === 0) {
      if (key.session !== undefined) this.rememberEarlyCancel(id);
      return 'unknown';
    }
    if (same.size > 1) return 'ambiguous';
    for (const call of same) call.abort('cancelled');
    return 'cancelled';
  }

  get size(): number {
    return this.calls.size;
  }

  private takeEarlyCancel(id: string): boolean {
    const until = this.earlyCancels.get(id);
    if (until === undefined) return false;
    this.earlyCancels.delete(id);
    return until > this.now();
  }

  private rememberEarlyCancel(id: string): void {
    const now = this.now();
    for (const [old, until] of this.earlyCancels) {
      // Insertion order is expiry order: stop at the first one still current.
      if (until > now && this.earlyCancels.size < MAX_EARLY_CANCELS) break;
      this.earlyCancels.delete(old);
    }
    this.earlyCancels.delete(id);
    this.earlyCancels.set(id, now + EARLY_CANCEL_MEMORY_MS);
  }
}
