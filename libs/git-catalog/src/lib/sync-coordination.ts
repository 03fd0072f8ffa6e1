import type { JetStreamClient, KV } from 'nats';

export const GIT_LOCK_BUCKET = 'rungate_git_locks';
export const GIT_HEAD_BUCKET = 'rungate_git_heads';
export const DEFAULT_LOCK_TTL_MS = 15_000;

/** The commit the active syncer last published for a repository; standbys follow it. */
export interface PublishedHead {
  commit: string;
  /** True while the active syncer cannot reach the remote and serves this commit anyway. */
  stale: boolean;
  owner: string;
  publishedAt: string;
}

interface LockValue {
  owner: string;
  /** Empty after a graceful release, so the next replica takes over at once. */
  released?: boolean;
  at: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function decode<T>(data: Uint8Array): T | undefined {
  if (data.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(data)) as T;
  } catch {
    return undefined;
  }
}

function isRevisionConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error).message ?? '');
}

export interface SyncCoordinationOptions {
  lockBucket?: string;
  headBucket?: string;
  /** Lock lifetime when this process creates the bucket; an existing bucket keeps its own. */
  lockTtlMs?: number;
  /** Keeps deployments (or test files) that share one NATS apart: keys become `<prefix>.<repository>`. */
  keyPrefix?: string;
}

/**
 * Who syncs which repository, across replicas, on NATS KV. A lock per repository lives in a
 * bucket whose entries expire (max_age = the TTL): the holder renews it with a revision check
 * at TTL/3; when the holder dies its entry expires and a standby creates it. The commit the
 * holder published lives in a second bucket that never expires, so a restart or a takeover
 * knows what was published before it.
 */
export class SyncCoordination {
  private constructor(
    private readonly locks: KV,
    private readonly heads: KV,
    readonly lockTtlMs: number,
    private readonly keyPrefix: string,
  ) {}

  static async open(js: JetStreamClient, options: SyncCoordinationOptions = {}): Promise<SyncCoordination> {
    const locks = await js.views.kv(options.lockBucket ?? GIT_LOCK_BUCKET, { ttl: options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS, history: 1 });
    const heads = await js.views.kv(options.headBucket ?? GIT_HEAD_BUCKET, { history: 1 });
    const ttl = (await locks.status()).ttl || (options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    return new SyncCoordination(locks, heads, ttl, options.keyPrefix ?? '');
  }

  key(repository: string): string {
    return this.keyPrefix ? `${this.keyPrefix}.${repository}` : repository;
  }

  lock(repository: string, owner: string): SyncLock {
    return new SyncLock(this.locks, this.key(repository), owner);
  }

  async publishedHead(repository: string): Promise<PublishedHead | undefined> {
    const entry = await this.heads.get(this.key(repository));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return decode<PublishedHead>(entry.value);
  }

  async publishHead(repository: string, head: PublishedHead): Promise<void> {
    await this.heads.put(this.key(repository), encode(head));
  }
}

/** One repository's lock, as seen by one replica. */
export class SyncLock {
  private revision?: number;

  constructor(
    private readonly kv: KV,
    private readonly key: string,
    readonly owner: string,
  ) {}

  get held(): boolean {
    return this.revision !== undefined;
  }

  /** Takes the lock when nobody holds it; false when another replica does. */
  async acquire(): Promise<boolean> {
    const value = encode({ owner: this.owner, at: new Date().toISOString() } satisfies LockValue);
    try {
      const entry = await this.kv.get(this.key);
      const current = entry && entry.operation === 'PUT' ? decode<LockValue>(entry.value) : undefined;
      if (current && !current.released && current.owner && current.owner !== this.owner) return false;
      // The revision check makes this atomic: of replicas racing for a free lock, one wins.
      this.revision = entry ? await this.kv.update(this.key, value, entry.revision) : await this.kv.create(this.key, value);
      return true;
    } catch (error) {
      if (isRevisionConflict(error)) return false;
      throw error;
    }
  }

  /** Extends the lock; false when it was lost (expired and taken by another replica). */
  async renew(): Promise<boolean> {
    if (this.revision === undefined) return false;
    try {
      this.revision = await this.kv.update(this.key, encode({ owner: this.owner, at: new Date().toISOString() } satisfies LockValue), this.revision);
      return true;
    } catch (error) {
      if (isRevisionConflict(error)) {
        this.revision = undefined;
        return false;
      }
      throw error;
    }
  }

  /** Hands the lock back so a standby takes over without waiting for the TTL. */
  async release(): Promise<void> {
    const revision = this.revision;
    this.revision = undefined;
    if (revision === undefined) return;
    await this.kv
      .update(this.key, encode({ owner: this.owner, released: true, at: new Date().toISOString() } satisfies LockValue), revision)
      .catch(() => undefined);
  }

  /** Forgets the lock locally (it could not be renewed in time); another replica may hold it now. */
  forget(): void {
    this.revision = undefined;
  }
}
