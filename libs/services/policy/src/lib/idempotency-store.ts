import { Injectable } from '@nestjs/common';
import { RungateError } from '@rungate/contracts';
import { DatabaseIdempotencyKeys } from '@rungate/persistence';
import { InMemoryIdempotencyKeys, type IdempotencyBinding, type IdempotencyKeys } from '@rungate/policy';
import type { DataSource } from 'typeorm';
import { PolicyDatabase } from './policy-database';

/**
 * Idempotency keys in Rungate's database when policy has one (every replica then sees the
 * same bindings); in memory otherwise, which only a single policy process can rely on.
 */
@Injectable()
export class IdempotencyStore {
  private memory?: InMemoryIdempotencyKeys;
  private database?: { source: DataSource; keys: IdempotencyKeys };

  constructor(private readonly db: PolicyDatabase) {}

  async bind(runId: string, digest: string, keyId: string): Promise<IdempotencyBinding> {
    try {
      return await (await this.keys()).bind(runId, digest, keyId);
    } catch {
      // Fail closed: without the binding a reused key could not be told apart from a retry.
      throw new RungateError('SERVICE_UNAVAILABLE', `cannot record the idempotency key of run ${runId}; nothing was executed, retry shortly`);
    }
  }

  private async keys(): Promise<IdempotencyKeys> {
    if (!this.db.configured) return (this.memory ??= new InMemoryIdempotencyKeys());
    const source = await this.db.open();
    if (this.database?.source !== source) this.database = { source, keys: new DatabaseIdempotencyKeys(source) };
    return this.database.keys;
  }
}
