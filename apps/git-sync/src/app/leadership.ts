import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { JetStreamClient, KV } from 'nats';

export const LOCK_BUCKET = 'rungate_git_locks';

/**
 * One active syncer per repository across replicas: a KV key per repository, created by the
 * first replica and renewed while it lives; when it dies the key expires and another takes it.
 */
export class Leadership {
  private readonly log = new Logger(Leadership.name);
  readonly holder = randomUUID();
  private kv?: KV;
  private readonly leading = new Set<string>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly ttlMs: number,
    private readonly namespace: string,
  ) {}

  private key(repository: string): string {
    return `${this.namespace ? `${this.namespace}_` : ''}${repository}`.replace(/[^A-Za-z0-9_-]/g, '_');
  }

  /** Claims or renews the lock; true while this replica is the repository's active syncer. */
  async renew(repository: string): Promise<boolean> {
    try {
      this.kv ??= await this.js.views.kv(LOCK_BUCKET, { ttl: this.ttlMs, history: 1 });
      const key = this.key(repository);
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) {
        await this.kv.create(key, new TextEncoder().encode(this.holder));
      } else if (entry.string() === this.holder) {
        await this.kv.update(key, new TextEncoder().encode(this.holder), entry.revision);
      } else {
        this.leading.delete(repository);
        return false;
      }
      if (!this.leading.has(repository)) this.log.log(`active syncer for ${repository}`);
      this.leading.add(repository);
      return true;
    } catch (error) {
      // Lost a race or the bus is down: not the leader this round.
      if (this.leading.delete(repository)) this.log.warn(`gave up leading ${repository}: ${(error as Error).message}`);
      return false;
    }
  }

  isLeader(repository: string): boolean {
    return this.leading.has(repository);
  }

  async release(repository: string): Promise<void> {
    if (!this.kv || !this.leading.delete(repository)) return;
    const entry = await this.kv.get(this.key(repository)).catch(() => null);
    if (entry?.string() === this.holder) await this.kv.delete(this.key(repository)).catch(() => undefined);
  }
}
