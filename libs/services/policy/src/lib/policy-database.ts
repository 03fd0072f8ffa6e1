import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { SERVICE_CONTEXT, hasServiceDatabase, openServiceDatabase, type ServiceContext } from '@rungate/runtime';
import type { DataSource } from 'typeorm';

/**
 * Rungate's database as policy uses it (agent tokens, idempotency keys): one pool, opened on
 * first use so policy starts and answers static tokens while the database is down.
 */
@Injectable()
export class PolicyDatabase implements OnApplicationShutdown {
  private source?: Promise<DataSource>;

  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {}

  /** DATABASE_URL, or the database the all-in-one mode shares in-process. */
  get configured(): boolean {
    return hasServiceDatabase(this.ctx);
  }

  /** The open database; a failed open is retried by the next caller. */
  open(): Promise<DataSource> {
    this.source ??= openServiceDatabase(this.ctx);
    const opening = this.source;
    opening.catch(() => {
      if (this.source === opening) this.source = undefined;
    });
    return opening;
  }

  async onApplicationShutdown(): Promise<void> {
    // A database shared in-process (the all-in-one mode) belongs to whoever made it.
    if (this.ctx.database) return;
    const source = await this.source?.catch(() => undefined);
    await source?.destroy();
  }
}
