import { IDEMPOTENCY_KEY_TTL_MS, compareIdempotencyBinding, type IdempotencyBinding, type IdempotencyKeys } from '@rungate/policy';
import type { DataSource } from 'typeorm';

const PRUNE_EVERY_MS = 60 * 60 * 1000;

/**
 * Idempotency keys in Rungate's own database, shared by every policy replica. One statement
 * binds a new key, or one whose binding expired; PostgreSQL's unique index makes two replicas
 * racing with the same key take turns, so exactly one binds it.
 */
export class DatabaseIdempotencyKeys implements IdempotencyKeys {
  private lastPrune = 0;

  constructor(private readonly db: DataSource) {}

  async bind(runId: string, digest: string, keyId: string): Promise<IdempotencyBinding> {
    const ttl = `${IDEMPOTENCY_KEY_TTL_MS} milliseconds`;
    const bound: unknown[] = await this.db.query(
      `INSERT INTO idempotency_keys (run_id, args_digest, key_id) VALUES ($1, $2, $3)
       ON CONFLICT (run_id) DO UPDATE SET args_digest = EXCLUDED.args_digest, key_id = EXCLUDED.key_id, created_at = now()
         WHERE idempotency_keys.created_at < now() - $4::interval
       RETURNING run_id`,
      [runId, digest, keyId, ttl],
    );
    this.pruneNowAndThen(ttl);
    if (bound.length > 0) return { ok: true };
    const stored: { args_digest: string; key_id: string }[] = await this.db.query('SELECT args_digest, key_id FROM idempotency_keys WHERE run_id = $1', [runId]);
    const row = stored[0];
    // Gone between the two statements: only a prune of an expired binding does that.
    if (!row) return this.bind(runId, digest, keyId);
    return compareIdempotencyBinding({ digest: row.args_digest, keyId: row.key_id }, digest, keyId);
  }

  /** Expired bindings are never read again; dropping them keeps the table to a day of keys. */
  private pruneNowAndThen(ttl: string): void {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    void this.db.query('DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval', [ttl]).catch(() => undefined);
  }
}
