import type { DataSource, QueryRunner } from 'typeorm';

/** First key of the two-key advisory lock; the second is derived from the durable's name. */
const LEASE_KEY = 726127102;

/**
 * Which audit replica writes the chain. Two writers on one durable would each get part of
 * the stream and skip what the other stored, so exactly one holds this PostgreSQL session
 * lock and the others stand by (they still serve queries). The lock lives as long as the
 * database session: a writer that dies or loses its database loses the lease with it, and a
 * standby takes over at its next attempt.
 */
export class WriterLease {
  private session?: QueryRunner;

  constructor(
    private readonly db: DataSource,
    private readonly name: string,
  ) {}

  get held(): boolean {
    return this.session !== undefined;
  }

  /** True when this process now holds the lease (or already did). */
  async tryAcquire(): Promise<boolean> {
    if (this.session) return true;
    const session = this.db.createQueryRunner();
    await session.connect();
    try {
      const [row] = (await session.query('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [LEASE_KEY, this.name])) as { locked: boolean }[];
      if (row?.locked) {
        this.session = session;
        return true;
      }
    } catch (error) {
      await session.release().catch(() => undefined);
      throw error;
    }
    await session.release();
    return false;
  }

  /** Whether the session holding the lease is still alive; a dead one has lost the lock. */
  async stillHeld(): Promise<boolean> {
    if (!this.session) return false;
    try {
      await this.session.query('SELECT 1');
      return true;
    } catch {
      await this.drop();
      return false;
    }
  }

  async release(): Promise<void> {
    const session = this.session;
    if (!session) return;
    await session.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LEASE_KEY, this.name]).catch(() => undefined);
    await this.drop();
  }

  private async drop(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.release().catch(() => undefined);
  }
}
