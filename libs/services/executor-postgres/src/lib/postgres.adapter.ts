import type { PostgresConnectionConfig } from '@rungate/config';
import { RungateError, type RunTicketClaims, type SqlColumn, type SqlOutput } from '@rungate/contracts';
import { settlesWithin, type ExecutorAdapter, type OutputNeeds, type PipelineLog } from '@rungate/executors';
import { escapeIdentifier, escapeLiteral, type PoolClient, type QueryResult } from 'pg';
import { BodyQuery, SingleStatementQuery, type BodyResult } from './body-query';
import { describeFailure, type RunPhase } from './pg-errors';
import type { PostgresTarget, PostgresTargets } from './postgres-targets';
import { sqlOutput } from './sql-output';
import type { PgTypeInfo } from './sql-values';
import { statementHeads, transactionControl } from './transaction-control';

/** Raw text kept per result set, relative to the JSON byte cap (conversion can shrink values). */
const RAW_TEXT_FACTOR = 4;
/** A backend still busy this long after pg_cancel_backend is terminated. */
const DEFAULT_TERMINATE_AFTER_MS = 2000;
/** The server rolls back a transaction left idle this much longer than the run may take. */
const IDLE_IN_TRANSACTION_MARGIN_MS = 30_000;
/** An exploration waits for a lock at most this long: a read must never queue behind (or ahead of) a write. */
const EXPLORE_LOCK_TIMEOUT_MS = 1000;
/** How an exploration's one statement may begin, read by the executor's own lexer (comments and quotes skipped). */
const EXPLORE_FIRST_WORDS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE', 'EXPLAIN', 'SHOW', '(']);

export interface PreparedSqlRun {
  readonly runId: string;
  readonly target: PostgresTarget;
  readonly body: string;
  readonly readOnly: boolean;
  readonly dryRun: boolean;
  readonly timeoutMs: number;
  readonly maxRows: number;
  readonly maxBytes: number;
  /** Masking's column rules need each result column's source table column. */
  readonly sourceColumns: boolean;
  /**
   * An exploration (ADR 19): read-only whatever the ticket's other claims, one statement over
   * the extended protocol, short lock waits, the connection's read-only role, always rolled back.
   */
  readonly explore?: { role?: string };
  /** The backend running the transaction, once it began and until the run stops. */
  backendPid?: number;
  /** Set when the run stops using its backend; a cancel after that must not touch it. */
  stopped?: Promise<void>;
  finished?: boolean;
  cancelling?: Promise<void>;
  /** The pooled connection inside the run's transaction, once `open` (or `run`) asked for it. */
  session?: Promise<SqlSession>;
}

interface SqlSession {
  readonly client: PoolClient;
  readonly onClientError: (error: Error) => void;
  readonly markStopped: () => void;
}

export interface PostgresAdapterOptions {
  terminateAfterMs?: number;
}

function cancelledError(when: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `the run was cancelled ${when}; nothing was executed`);
}

/**
 * PostgreSQL: each run is one transaction on a pooled connection — `BEGIN READ ONLY` for
 * @readonly runbooks, ROLLBACK for dry runs and on any error — with the run's time limit as
 * `statement_timeout` on the server and a cancel from a second connection when the
 * pipeline gives up. The body goes over the simple query protocol, exactly as reviewed.
 */
export class PostgresAdapter implements ExecutorAdapter<'postgres', PreparedSqlRun> {
  readonly type = 'postgres' as const;
  readonly explores = ['explore_sql', 'explore_schema'] as const;
  /** Connections on their way back to the pool (session reset after the result went out). */
  private readonly releasing = new Set<Promise<void>>();
  private readonly terminateAfterMs: number;

  constructor(
    private readonly targets: PostgresTargets,
    private readonly log: PipelineLog,
    options: PostgresAdapterOptions = {},
  ) {
    this.terminateAfterMs = options.terminateAfterMs ?? DEFAULT_TERMINATE_AFTER_MS;
  }

  prepare(claims: RunTicketClaims, body: string, connection: PostgresConnectionConfig, needs?: OutputNeeds): PreparedSqlRun {
    if (claims.explore) {
      // Independent of policy's parser: a statement that starts like a write, a SET or a COPY never reaches the server.
      const first = statementHeads(body)[0]?.[0];
      if (first === undefined || !EXPLORE_FIRST_WORDS.has(first)) {
        throw new RungateError('EXPLORATION_REFUSED', `an exploration runs one read-only statement (SELECT, WITH, VALUES, TABLE, EXPLAIN or SHOW); this one ${first ? `starts with ${first}` : 'is empty'}. Nothing was executed.`);
      }
    }
    const [control] = transactionControl(body);
    if (control) {
      throw new RungateError(
        'EXECUTION_FAILED',
        `statement ${control.statement} of this runbook is ${control.command}: Rungate runs each PostgreSQL runbook in one transaction of its own ` +
          '(read-only for @readonly, rolled back for a dry run or on error), so a runbook may not begin, commit or roll back transactions ' +
          '(savepoints are fine); remove it. Nothing was executed.',
      );
    }
    // Enforced here from the claim alone, independent of what policy's parser said of the body.
    const explore = claims.explore ? { ...(connection.explore?.role ? { role: connection.explore.role } : {}) } : undefined;
    return {
      runId: claims.runId,
      target: this.targets.targetFor(connection),
      body,
      readOnly: claims.readOnly || explore !== undefined,
      dryRun: claims.dryRun,
      ...(explore ? { explore } : {}),
      timeoutMs: claims.limits.timeoutMs,
      // The executor's own configuration caps what a ticket may ask for.
      maxRows: Math.min(claims.limits.maxRows, connection.maxRows),
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
      sourceColumns: needs?.sourceColumns ?? false,
    };
  }

  /**
   * Takes a pooled connection and opens the run's transaction (ADR 9): this happens while the
   * pipeline claims the run id and waits for the ack of `started`, and sends nothing of the
   * runbook. A run that does not go ahead rolls the empty transaction back (`abandon`).
   */
  async open(prepared: PreparedSqlRun, signal: AbortSignal): Promise<void> {
    prepared.session ??= this.begin(prepared, signal);
    await prepared.session;
  }

  async abandon(prepared: PreparedSqlRun): Promise<void> {
    const session = await prepared.session?.catch(() => undefined);
    if (!session || prepared.finished) return;
    let reusable = true;
    await session.client.query('ROLLBACK').catch(() => (reusable = false));
    this.end(prepared, session, reusable);
  }

  async run(prepared: PreparedSqlRun, signal: AbortSignal): Promise<SqlOutput> {
    const session = await (prepared.session ??= this.begin(prepared, signal));
    const { client } = session;
    const { target } = prepared;
    let phase: RunPhase = 'body';
    let reusable = true;
    try {
      if (signal.aborted) throw cancelledError('before its body ran');
      const caps = { maxRows: prepared.maxRows, maxRawLength: prepared.maxBytes * RAW_TEXT_FACTOR };
      const result = await client.query(prepared.explore ? new SingleStatementQuery(prepared.body, caps) : new BodyQuery(prepared.body, caps)).done;
      if (client.getTransactionStatus() !== 'T') {
        reusable = false;
        throw new RungateError(
          'OUTCOME_UNKNOWN',
          'the runbook ended the executor\'s transaction itself, so some of its statements may have been committed outside Rungate\'s transaction — check the target',
        );
      }
      if (prepared.explore) await this.assertStillReadOnly(client, prepared.explore);
      const types = await this.typesFor(client, target, result);
      const sources = prepared.sourceColumns ? await this.sourcesFor(client, result) : [];
      phase = 'commit';
      // An exploration is rolled back even though it could not write: nothing it did outlives it.
      await client.query(prepared.dryRun || prepared.explore ? 'ROLLBACK' : 'COMMIT');
      return sqlOutput(result, types, prepared.maxBytes, sources);
    } catch (error) {
      reusable = (await this.rollBack(client)) && reusable;
      throw this.failure(error, prepared, phase, signal);
    } finally {
      this.end(prepared, session, reusable);
    }
  }

  /**
   * One pooled connection inside the run's transaction. Fails with a scrubbed error and
   * leaves nothing open when the connection or the BEGIN fails.
   */
  private async begin(prepared: PreparedSqlRun, signal: AbortSignal): Promise<SqlSession> {
    if (signal.aborted) throw cancelledError('before it started');
    const client = await this.acquire(prepared, signal);
    const { target } = prepared;
    let markStopped: () => void = () => undefined;
    prepared.stopped = new Promise((resolve) => (markStopped = resolve));
    const onClientError = (error: Error) => this.log.warn(`run ${prepared.runId}: connection ${target.name} failed: ${target.scrubber.scrub(error.message)}`);
    client.on('error', onClientError);
    const session: SqlSession = { client, onClientError, markStopped };
    try {
      const begun = (await client.query(this.beginSql(prepared))) as unknown as QueryResult<{ pid: number }>[];
      prepared.backendPid = begun[begun.length - 1]?.rows[0]?.pid;
      return session;
    } catch (error) {
      this.end(prepared, session, await this.rollBack(client));
      throw this.failure(error, prepared, 'begin', signal);
    }
  }

  /** Rolls back whatever transaction the connection is in; false if the connection is unusable. */
  private async rollBack(client: PoolClient): Promise<boolean> {
    const status = client.getTransactionStatus();
    if (status !== 'T' && status !== 'E') return true;
    return client.query('ROLLBACK').then(
      () => true,
      () => false,
    );
  }

  private failure(error: unknown, prepared: PreparedSqlRun, phase: RunPhase, signal: AbortSignal): RungateError {
    const { target } = prepared;
    return describeFailure(error, {
      connection: target.name,
      address: target.address,
      phase,
      scrubber: target.scrubber,
      readOnly: prepared.readOnly,
      timeoutMs: prepared.timeoutMs,
      cancelled: signal.aborted,
      exploration: prepared.explore !== undefined,
    });
  }

  /** The run stops using its backend; the connection returns to the pool once it is clean. */
  private end(prepared: PreparedSqlRun, session: SqlSession, reusable: boolean): void {
    prepared.finished = true;
    prepared.backendPid = undefined;
    session.markStopped();
    const releasing = this.release(session.client, prepared, reusable, session.onClientError);
    this.releasing.add(releasing);
    void releasing.finally(() => this.releasing.delete(releasing));
  }

  private async release(client: PoolClient, prepared: PreparedSqlRun, reusable: boolean, onClientError: (error: Error) => void): Promise<void> {
    try {
      // A cancel already on its way must land before this backend can serve another run.
      await prepared.cancelling;
      const clean = reusable && (await this.resetSession(client));
      client.off('error', onClientError);
      client.release(!clean);
    } catch {
      client.release(true);
    }
  }

  async cancel(prepared: PreparedSqlRun): Promise<void> {
    if (prepared.finished || prepared.cancelling) return prepared.cancelling;
    const pid = prepared.backendPid;
    // Not begun yet: the run sees its aborted signal before it starts the body.
    if (pid === undefined) return;
    prepared.cancelling = this.stopBackend(prepared, pid);
    return prepared.cancelling;
  }

  async close(): Promise<void> {
    await Promise.all(this.releasing);
    await this.targets.close();
  }

  /** Waits for a pooled connection, unless the run is cancelled first (a full pool waits). */
  private acquire(prepared: PreparedSqlRun, signal: AbortSignal): Promise<PoolClient> {
    const { target } = prepared;
    const connecting = target.pool.connect();
    return new Promise<PoolClient>((resolve, reject) => {
      const onAbort = () => {
        connecting.then((client) => client.release(), () => undefined);
        reject(cancelledError('while it waited for a database connection'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(
        (client) => {
          signal.removeEventListener('abort', onAbort);
          if (!signal.aborted) resolve(client);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(
            describeFailure(error, {
              connection: target.name,
              address: target.address,
              phase: 'connect',
              scrubber: target.scrubber,
              readOnly: prepared.readOnly,
              timeoutMs: prepared.timeoutMs,
              cancelled: signal.aborted,
            }),
          );
        },
      );
    });
  }

  /**
   * One round trip opens the transaction, bounds it on the server (statement timeout, idle
   * timeout should this process vanish), names the run in pg_stat_activity and returns the
   * backend's pid for cancellation. The pid query also fixes the transaction's snapshot, so
   * a body cannot switch a read-only transaction to read-write.
   */
  private beginSql(prepared: PreparedSqlRun): string {
    const timeout = Math.max(1, Math.ceil(prepared.timeoutMs));
    const explore = prepared.explore;
    return [
      prepared.readOnly || explore ? 'BEGIN READ ONLY' : 'BEGIN',
      `SET LOCAL statement_timeout = ${timeout}`,
      `SET LOCAL idle_in_transaction_session_timeout = ${timeout + IDLE_IN_TRANSACTION_MARGIN_MS}`,
      ...(explore ? [`SET LOCAL lock_timeout = ${Math.min(timeout, EXPLORE_LOCK_TIMEOUT_MS)}`] : []),
      // The role's grants are the third defence: what it cannot read, no statement reads.
      ...(explore?.role ? [`SET LOCAL ROLE ${escapeIdentifier(explore.role)}`] : []),
      `SET LOCAL application_name = ${escapeLiteral(`rungate:${prepared.runId}`)}`,
      'SELECT pg_catalog.pg_backend_pid() AS pid',
    ].join('; ');
  }

  /**
   * After an exploration's statement, before anything of its result is used: the transaction
   * must still be read-only and, with a role, still that role. A statement that switched its
   * role (set_config('role', …), which a read-only transaction allows) may have read with the
   * connection user's rights, so its output is withheld.
   */
  private async assertStillReadOnly(client: PoolClient, explore: NonNullable<PreparedSqlRun['explore']>): Promise<void> {
    const { rows } = await client.query<{ role: string; ro: string }>("SELECT current_user::text AS role, pg_catalog.current_setting('transaction_read_only') AS ro");
    const [state] = rows;
    if (state?.ro === 'on' && (explore.role === undefined || state.role === explore.role)) return;
    throw new RungateError('EXPLORATION_REFUSED', 'the statement changed its role or left the read-only transaction, so its output is withheld; nothing was written');
  }

  /** Names and element types of the returned columns' types not seen before on this database. */
  private async typesFor(client: PoolClient, target: PostgresTarget, result: BodyResult): Promise<ReadonlyMap<number, PgTypeInfo>> {
    const missing = [...new Set(result.resultSet?.fields.map((field) => field.oid) ?? [])].filter((oid) => !target.types.has(oid));
    if (missing.length === 0) return target.types;
    const { rows } = await client.query<{ oid: number; typname: string; elem: number; category: string; elemname: string | null }>(
      `SELECT t.oid::int AS oid, t.typname, t.typelem::int AS elem, t.typcategory AS category, e.typname AS elemname
         FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
        WHERE t.oid = ANY($1::oid[])`,
      [missing],
    );
    for (const row of rows) {
      const isArray = row.category === 'A' && row.elem !== 0 && row.elemname !== null;
      target.types.set(row.oid, isArray ? { name: `${row.elemname}[]`, elementOid: row.elem } : { name: row.typname });
    }
    return target.types;
  }

  /**
   * Where each returned column comes from (schema, table, column), for masking's column rules:
   * `users.phone` must match `SELECT phone AS p FROM users` too. Read in the run's own
   * transaction and never cached, so a renamed table or column is seen by the next run.
   */
  private async sourcesFor(client: PoolClient, result: BodyResult): Promise<(SqlColumn['source'] | undefined)[]> {
    const fields = result.resultSet?.fields ?? [];
    const plain = fields.filter((field) => field.table !== 0 && field.column > 0);
    if (plain.length === 0) return [];
    const { rows } = await client.query<{ relid: number; attnum: number; schema: string; table: string; column: string }>(
      `SELECT a.attrelid::int AS relid, a.attnum::int AS attnum, n.nspname AS schema, c.relname AS table, a.attname AS column
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE (a.attrelid, a.attnum) IN (SELECT * FROM unnest($1::oid[], $2::int2[]))`,
      [plain.map((field) => field.table), plain.map((field) => field.column)],
    );
    const byField = new Map(rows.map((row) => [`${row.relid}/${row.attnum}`, { schema: row.schema, table: row.table, column: row.column }]));
    return fields.map((field) => byField.get(`${field.table}/${field.column}`));
  }

  /**
   * A body may change session state (SET, SET ROLE, temp tables, advisory locks, LISTEN);
   * none of it may reach the next run on this pooled connection, which may be another user's.
   */
  private async resetSession(client: PoolClient): Promise<boolean> {
    if (client.getTransactionStatus() !== 'I') return false;
    try {
      await client.query('DISCARD ALL');
      return true;
    } catch {
      return false;
    }
  }

  private async stopBackend(prepared: PreparedSqlRun, pid: number): Promise<void> {
    const { target } = prepared;
    try {
      await this.targets.signalBackend(target, 'cancel', pid);
      if (await settlesWithin(prepared.stopped ?? Promise.resolve(), this.terminateAfterMs)) return;
      this.log.warn(`run ${prepared.runId}: backend ${pid} did not stop ${this.terminateAfterMs} ms after a cancel; terminating it`);
      await this.targets.signalBackend(target, 'terminate', pid);
    } catch (error) {
      this.log.warn(`run ${prepared.runId}: ${error instanceof RungateError ? error.message : 'cancelling the backend failed'}`);
    }
  }
}
