import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Readiness, SERVICE_CONTEXT, openServiceDatabase, type ServiceContext } from '@rungate/runtime';
import type { DataSource } from 'typeorm';
import { InternalError } from '@rungate/contracts';

/**
 * Rungate's database as the audit service uses it: the chain writer appends, the query API
 * reads. DATABASE_URL, or the database the all-in-one mode shares in-process.
 */
@Injectable()
export class AuditDatabase implements OnModuleInit, OnApplicationShutdown {
  private source?: DataSource;

  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    private readonly readiness: Readiness,
  ) {}

  async onModuleInit(): Promise<void> {
    this.source = await openServiceDatabase(this.ctx);
    this.readiness.register('database', async () => {
      await this.db.query('SELECT 1');
      return true;
    });
  }

  get db(): DataSource {
    if (!this.source) throw new InternalError('the audit database is not open yet');
    return this.source;
  }

  /** Runs after every beforeApplicationShutdown hook, so the writer has committed and let go. */
  async onApplicationShutdown(): Promise<void> {
    // A database shared in-process belongs to whoever made it.
    if (this.ctx.database) return;
    await this.source?.destroy();
  }
}
