import { Logger } from '@nestjs/common';
import { resolveSecret, type PostgresConnectionConfig } from '@rungate/config';
import { RungateError, type JsonValue, type RunOutput, type SqlColumn } from '@rungate/contracts';
import { Pool, type PoolClient, type QueryArrayResult } from 'pg';
import type { ExecutorAdapter, RunRequest } from '../adapter';
import { toJson, uniqueNames } from './values';

interface PgError extends Error {
  code?: string;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', '28P01', '28000', '3D000', '57P03']);

/** Never let a connection string or password reach an error message. */
function scrub(message: string, secret: string): string {
  let text = message;
  try {
    const url = new URL(secret);
    for (const part of [secret, url.password, decodeURIComponent(url.password)].filter((p) => p.length > 0)) text = text.split(part).join('***');
  } catch {
    text = text.split(secret).join('***');
  }
  return text.replace(/postgres(ql)?:\/\/\S+/g, 'postgres://***');
}

/** PostgreSQL: one pool per connection, one transaction per run. */
export class PostgresAdapter implements ExecutorAdapter {
  readonly type = 'postgres' as const;
  private readonly log = new Logger(PostgresAdapter.name);
  private readonly pools = new Map<string, { pool: Pool; url: string; types?: Map<number, string> }>();

  prepare(request: RunRequest): void {
    if (request.connection.type !== 'postgres') throw new RungateError('TICKET_INVALID', 'not a PostgreSQL connection');
  }

  private poolFor(connection: PostgresConnectionConfig): { pool: Pool; url: string; types?: Map<number, string> } {
    let entry = this.pools.get(connection.name);
    if (!entry) {
      let url: string;
      try {
        url = resolveSecret(connection.url);
      } catch (error) {
        throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: ${(error as Error).message}`);
      }
      const pool = new Pool({
        connectionString: url,
        max: connection.pool.max,
        idleTimeoutMillis: connection.pool.idleTimeout ?? 30_000,
        connectionTimeoutMillis: 5000,
        application_name: 'rungate-executor',
      });
      pool.on('error', (error) => this.log.warn(`connection ${connection.name}: idle client error: ${scrub(error.message, url)}`));
      entry = { pool, url };
      this.pools.set(connection.name, entry);
    }
    return entry;
  }

  private async typeNames(entry: { pool: Pool; types?: Map<number, string> }, client: PoolClient): Promise<Map<number, string>> {
    if (!entry.types) {
      const { rows } = await client.query<{ oid: number; typname: string }>('SELECT oid::int AS oid, typname FROM pg_catalog.pg_type');
      entry.types = new Map(rows.map((r) => [r.oid, r.typname]));
    }
    return entry.types;
  }

  async run(request: RunRequest, signal: AbortSignal): Promise<RunOutput> {
    const connection = request.connection as PostgresConnectionConfig;
    const entry = this.poolFor(connection);
    const { claims } = request;
    if (signal.aborted) throw signal.reason;
    let client: PoolClient;
    try {
      client = await entry.pool.connect();
    } catch (error) {
      const code = (error as PgError).code ?? 'error';
      throw new RungateError('TARGET_UNAVAILABLE', `cannot connect to ${connection.name} (${code}): ${scrub((error as Error).message, entry.url)}`);
    }
    const pid = (client as unknown as { processID?: number }).processID;
    let broken = false;
    const onAbort = () => void this.cancelBackend(entry.pool, pid);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const types = await this.typeNames(entry, client);
      await client.query(claims.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(claims.limits.timeoutMs))}`);
      await client.query('SET LOCAL standard_conforming_strings = on');
      const raw = (await client.query({ text: request.body, rowMode: 'array' })) as unknown as QueryArrayResult | QueryArrayResult[];
      if (signal.aborted) throw signal.reason;
      await client.query(claims.dryRun ? 'ROLLBACK' : 'COMMIT');
      return this.output(Array.isArray(raw) ? raw : [raw], types, claims.limits.maxRows, claims.limits.maxBytes);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (signal.aborted && signal.reason instanceof RungateError) throw signal.reason;
      throw this.mapError(error as PgError, connection.name, entry.url, claims.limits.timeoutMs);
    } finally {
      signal.removeEventListener('abort', onAbort);
      client.release(broken);
    }
  }

  private output(results: QueryArrayResult[], types: Map<number, string>, maxRows: number, maxBytes: number): RunOutput {
    const statements = results.map((r) => ({ command: r.command ?? 'UNKNOWN', rowCount: r.rowCount ?? null }));
    const last = [...results].reverse().find((r) => r.fields && r.fields.length > 0);
    const columns: SqlColumn[] = [];
    const rows: Record<string, JsonValue>[] = [];
    let truncated = false;
    if (last) {
      const names = uniqueNames(last.fields.map((f) => f.name));
      last.fields.forEach((f, i) => columns.push({ name: names[i] as string, type: types.get(f.dataTypeID) ?? String(f.dataTypeID) }));
      let bytes = 0;
      for (const row of last.rows) {
        if (rows.length >= maxRows) {
          truncated = true;
          break;
        }
        const record = Object.fromEntries(names.map((name, i) => [name, toJson(row[i])]));
        bytes += Buffer.byteLength(JSON.stringify(record));
        if (bytes > maxBytes) {
          truncated = true;
          break;
        }
        rows.push(record);
      }
    }
    const rowCount = last ? last.rows.length : (statements[statements.length - 1]?.rowCount ?? 0);
    return { kind: 'sql', columns, rows, rowCount, statements, truncated };
  }

  private mapError(error: PgError, name: string, url: string, timeoutMs: number): RungateError {
    const message = scrub(error.message ?? 'error', url);
    if (error.code === '57014') return new RungateError('TIMEOUT', `the statement was cancelled after ${timeoutMs} ms`);
    if (error.code === '25006') return new RungateError('EXECUTION_FAILED', `this runbook is @readonly and tried to write: ${message}`);
    if (error.code && CONNECT_CODES.has(error.code)) return new RungateError('TARGET_UNAVAILABLE', `connection ${name} is unavailable (${error.code}): ${message}`);
    if (!error.code || /terminat|Connection terminated/i.test(message)) return new RungateError('TARGET_UNAVAILABLE', `connection ${name} dropped: ${message}`);
    return new RungateError('EXECUTION_FAILED', `PostgreSQL error ${error.code}: ${message}`);
  }

  /** Stops the backend itself, not only our wait for it. */
  private async cancelBackend(pool: Pool, pid: number | undefined): Promise<void> {
    if (!pid) return;
    try {
      await pool.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch (error) {
      this.log.warn(`could not cancel backend ${pid}: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((entry) => entry.pool.end().catch(() => undefined)));
    this.pools.clear();
  }
}
