import { DataSource, type DataSourceOptions } from 'typeorm';
import { AuditEvents1764000000000 } from './migrations/1764000000000-audit-events';
import { AgentTokens1764000000001 } from './migrations/1764000000001-agent-tokens';
import { RunClaims1764000000100 } from './migrations/1764000000100-run-claims';
import { AuditEventIds1764000000200 } from './migrations/1764000000200-audit-event-ids';
import { AuditRunStatus1764000000300 } from './migrations/1764000000300-audit-run-status';
import { IdempotencyKeys1764000000400 } from './migrations/1764000000400-idempotency-keys';
import { TokenScopes1764000000500 } from './migrations/1764000000500-token-scopes';
import { ExplorationSessions1764000000700 } from './migrations/1764000000700-exploration-sessions';
import { ApprovalRuns1764000000800 } from './migrations/1764000000800-approval-runs';
import { HumanTokens1764000000850 } from './migrations/1764000000850-human-tokens';
import { RunTasks1764000000870 } from './migrations/1764000000870-run-tasks';
import { ApprovalWindows1764000000900 } from './migrations/1764000000900-approval-windows';
import { readEnvironment } from '@rungate/config';
import { InternalError } from '@rungate/contracts';

export const MIGRATIONS = [
  AuditEvents1764000000000,
  AgentTokens1764000000001,
  RunClaims1764000000100,
  AuditEventIds1764000000200,
  AuditRunStatus1764000000300,
  IdempotencyKeys1764000000400,
  TokenScopes1764000000500,
  ExplorationSessions1764000000700,
  ApprovalRuns1764000000800,
  HumanTokens1764000000850,
  RunTasks1764000000870,
  ApprovalWindows1764000000900,
];

export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = readEnvironment(env).DATABASE_URL;
  if (!url) throw new InternalError('DATABASE_URL is not set');
  return url;
}

/**
 * Rungate's own database. `override` lets the all-in-one mode hand in an embedded driver
 * (PGlite) while the schema and migrations stay the same.
 */
export async function openDatabase(url: string | undefined, override: Partial<DataSourceOptions> = {}): Promise<DataSource> {
  const source = new DataSource({
    type: 'postgres',
    ...(url ? { url } : {}),
    migrations: MIGRATIONS,
    migrationsTableName: 'rungate_migrations',
    migrationsRun: false,
    logging: false,
    extra: { max: 5, application_name: 'rungate' },
    ...override,
  } as DataSourceOptions);
  await source.initialize();
  // Several services may start against one database at once: migrate one at a time.
  const session = source.createQueryRunner();
  await session.connect();
  try {
    await session.query('SELECT pg_advisory_lock(726127101)');
    await source.runMigrations({ transaction: 'each' });
  } finally {
    await session.query('SELECT pg_advisory_unlock(726127101)').catch(() => undefined);
    await session.release();
  }
  return source;
}
