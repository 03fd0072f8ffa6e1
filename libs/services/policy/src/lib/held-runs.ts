import { Injectable } from '@nestjs/common';
import { RungateError } from '@rungate/contracts';
import { ApprovalRunStore, TaskResultStore } from '@rungate/persistence';
import type { DataSource } from 'typeorm';
import { PolicyDatabase } from './policy-database';

/**
 * Held runs (ADR 18 §2) in Rungate's database: PGlite in `rungate serve`, the PostgreSQL of
 * DATABASE_URL for the distributed mode, shared by every policy replica. Without a database a
 * run cannot wait for anyone, so a call that needs an approval is refused (fail closed).
 */
@Injectable()
export class HeldRuns {
  private opened?: { source: DataSource; store: ApprovalRunStore; results: TaskResultStore };

  constructor(private readonly db: PolicyDatabase) {}

  get available(): boolean {
    return this.db.configured;
  }

  async store(): Promise<ApprovalRunStore> {
    return (await this.open()).store;
  }

  /** The answers of task-augmented calls that were not held (ADR 18 §8), in the same database. */
  async taskResults(): Promise<TaskResultStore> {
    return (await this.open()).results;
  }

  private async open(): Promise<{ store: ApprovalRunStore; results: TaskResultStore }> {
    let source: DataSource;
    try {
      source = await this.db.open();
    } catch {
      throw new RungateError('SERVICE_UNAVAILABLE', "Rungate's database is unavailable, so no held run can be stored, read or decided; nothing was executed, retry shortly");
    }
    if (this.opened?.source !== source) this.opened = { source, store: new ApprovalRunStore(source), results: new TaskResultStore(source) };
    return this.opened;
  }
}
