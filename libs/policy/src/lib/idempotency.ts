import { createHmac } from 'node:crypto';

/** How long a key binds a run: the executors' run ledger remembers a run id as long (24 h). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Printable ASCII without space: what an HTTP header carries unchanged, and what a UUID or a retry token is made of. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export type IdempotencyKeyCheck =
  | { ok: true; key?: string }
  /** `recorded`: what the audit record keeps of a refused key (all of it when short). */
  | { ok: false; problem: string; recorded: Record<string, unknown> };

const RECORDED_KEY_CHARS = 1024;

/**
 * An idempotency key as sent (`_meta["io.rungate/idempotencyKey"]` or the Idempotency-Key
 * header). Absent is fine; anything else but 1–255 visible ASCII characters is a validation
 * error, never silently ignored (an ignored key would let a retry run twice).
 */
export function checkIdempotencyKey(value: unknown): IdempotencyKeyCheck {
  if (value === undefined) return { ok: true };
  if (typeof value !== 'string') {
    const scalar = value === null || typeof value !== 'object';
    return { ok: false, problem: `must be a string, not ${jsonType(value)}`, recorded: { idempotencyKeyType: jsonType(value), ...(scalar ? { idempotencyKey: value } : {}) } };
  }
  if (value.length >= 1 && value.length <= MAX_IDEMPOTENCY_KEY_LENGTH && IDEMPOTENCY_KEY.test(value)) return { ok: true, key: value };
  const recorded =
    value.length > RECORDED_KEY_CHARS ? { idempotencyKey: value.slice(0, RECORDED_KEY_CHARS), idempotencyKeyLength: value.length } : { idempotencyKey: value };
  return {
    ok: false,
    problem: `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (letters, digits, punctuation; no spaces or control characters), e.g. a UUID`,
    recorded,
  };
}

/**
 * What makes two calls under one key "the same call": the connection, the dry-run flag and
 * every validated parameter value. Keyed (HMAC), so the stored digest cannot be used to
 * guess a password-typed value from the other, audited, parameters.
 */
export function argumentsDigest(key: Buffer, call: { connection: string; dryRun: boolean; values: Record<string, string> }): string {
  const values = Object.keys(call.values)
    .sort()
    .map((name) => [name, call.values[name]]);
  return createHmac('sha256', key).update(JSON.stringify([call.connection, call.dryRun, values])).digest('hex');
}

/** A key bound to its first call's arguments; or why this call is not that call. */
export type IdempotencyBinding = { ok: true } | { ok: false; reason: 'other-arguments' | 'other-signing-key' };

/**
 * Where policy binds an idempotency key (by the run id it derives from it) to the digest of
 * the first allowed call's arguments. `bind` is atomic: of two calls with the same key and
 * different arguments, on any replicas, exactly one is bound and the other told so.
 */
export interface IdempotencyKeys {
  bind(runId: string, digest: string, keyId: string): Promise<IdempotencyBinding>;
}

/** A later call against the binding its key already has. */
export function compareIdempotencyBinding(stored: { digest: string; keyId: string }, digest: string, keyId: string): IdempotencyBinding {
  if (stored.keyId !== keyId) return { ok: false, reason: 'other-signing-key' };
  return stored.digest === digest ? { ok: true } : { ok: false, reason: 'other-arguments' };
}

/** For a policy without a database: correct for one policy process, which is all such a deployment can have. */
export class InMemoryIdempotencyKeys implements IdempotencyKeys {
  private readonly bound = new Map<string, { digest: string; keyId: string; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async bind(runId: string, digest: string, keyId: string): Promise<IdempotencyBinding> {
    const at = this.now();
    for (const [id, entry] of this.bound) {
      if (at - entry.at < IDEMPOTENCY_KEY_TTL_MS) break;
      this.bound.delete(id);
    }
    const stored = this.bound.get(runId);
    if (!stored) {
      this.bound.set(runId, { digest, keyId, at });
      return { ok: true };
    }
    return compareIdempotencyBinding(stored, digest, keyId);
  }
}
