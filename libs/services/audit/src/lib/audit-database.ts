import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { databaseUrl, openDatabase } from '@rungate/persistence';
import { Readiness } from '@rungate/runtime';
import type { DataSource } from 'typeorm';

/** Rungate's database as the audit service uses it: the chain writer appends, the query API reads. */
@Injectable()
export class AuditDatabase implements OnModuleInit, OnApplicationShutdown {
  private source?: DataSource;

  constructor(private readonly readiness: Readiness) {}

  async onModuleInit(): Promise<void> {
    this.source = await openDatabase(databaseUrl());
    this.readiness.register('database', async () => {
      await this.db.query('SELECT 1');
      return true;
    });
  }

  get db(): DataSource {
    if (!this.source) throw new Error('the audit database is not open yet');
    return this.source;
  }

  /** Runs after every beforeApplicationShutdown hook, so the writer has committed and let go. */
  async onApplicationShutdown(): Promise<void> {
    await this.source?.destroy();
  }
}
