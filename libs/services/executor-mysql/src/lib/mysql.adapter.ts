import { mysqlQuotingOf, type MysqlConnectionConfig } from '@rungate/config';
import { RungateError, type MysqlQuoting, type RunTicketClaims, type SqlOutput } from '@rungate/contracts';
import { settlesWithin, type ExecutorAdapter, type OutputNeeds, type PipelineLog, type RunPhase } from '@rungate/executors';
import type { PoolConnection } from 'mysql2';
import { BodyFailure, runBody } from './mysql-body';
import { describeFailure } from './mysql-errors';
import { mysqlStatements, type StatementInfo } from './mysql-statements';
import type { MysqlTarget, MysqlTargets, ServerFlavor } from './mysql-targets';

/** A connection still busy this long after KILL QUERY is killed as a whole. */
const DEFAULT_KILL_CONNECTION_AFTER_MS = 2000;
/** The server closes a session left idle this much longer than the run may take (should the executor vanish). */
const IDLE_MARGIN_S = 30;
/** An exploration waits for a lock at most this long (s, the servers' minimum): a read must never queue behind a write. */
const EXPLORE_LOCK_WAIT_S = 1;
/** How an exploration's one statement may begin, read by the executor's own lexer (comments and quotes skipped, executable comments read as SQL). */
const EXPLORE_FIRST_WORDS = new Set(['SELECT', 'WITH', 'SHOW', 'EXPLAIN', 'DESCRIBE', 'DESC', '(']);

export interface PreparedMysqlRun {
  readonly runId: string;
  readonly target: MysqlTarget;
  readonly body: string;
  readonly statements: readonly StatementInfo[];
  readonly implicitCommits: readonly StatementInfo[];
  readonly readOnly: boolean;
  readonly dryRun: boolean;
  readonly timeoutMs: number;
  readonly maxRows: number;
  readonly maxBytes: number;
  /** Masking's column rules need each result column's source table column. */
  readonly sourceColumns: boolean;
  /**
   * An exploration (ADR 19): read-only whatever the ticket's other claims, one statement on a
   * connection that cannot send several, short lock waits, always rolled back.
   */
  readonly explore: boolean;
  /** The server's connection id running the transaction, once it began and until the run stops. */
  connectionId?: number;
  /** Set when the run stops using its connection; a kill after that must not touch it. */
  stopped?: Promise<void>;
  finished?: boolean;
  cancelling?: Promise<void>;
  /** The pooled connection inside the run's transaction, once `open` (or `run`) asked for it. */
  session?: Promise<SqlSession>;
}

/** What the last statement of a run's set-up returns. */
interface PinnedSession {
  id: number;
  sql_mode: string;
}

interface SqlSession {
  readonly connection: PoolConnection;
  readonly markStopped: () => void;
}

export interface MysqlAdapterOptions {
  killConnectionAfterMs?: number;
}

function cancelledError(when: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `the run was cancelled ${when}; nothing was executed`);
}

function refused(statement: StatementInfo, why: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `statement ${statement.index} of this runbook (${statement.command}) ${why}. Nothing was executed.`);
}

/**
 * The executor's own reading of an exploration, independent of policy's check: exactly one
 * statement, beginning like a read. Its lexer reads executable comments as SQL, so
 * `/*! DELETE … *\/` begins with DELETE here.
 */
function refuseUnlessRead(statements: readonly StatementInfo[]): void {
  const [first] = statements;
  const word = first?.command;
  if (statements.length !== 1 || word === undefined || !EXPLORE_FIRST_WORDS.has(word)) {
    const what = statements.length > 1 ? `this is ${statements.length} statements` : word ? `this one starts with ${word}` : 'this one is empty';
    throw new RungateError('EXPLORATION_REFUSED', `an exploration runs one read-only statement (SELECT, WITH, SHOW, EXPLAIN or DESCRIBE); ${what}. Nothing was executed.`);
  }
}

function sameQuoting(a: MysqlQuoting, b: MysqlQuoting): boolean {
  return a.ansiQuotes === b.ansiQuotes && a.noBackslashEscapes === b.noBackslashEscapes;
}

function query<T>(connection: PoolConnection, sql: string): Promise<T> {
  return new Promise((resolve, reject) => connection.query(sql, (error, result) => (error ? reject(error) : resolve(result as T))));
}

/** The sql_mode as a literal: the config schema allows only mode names (letters, "_") and commas. */
function literal(text: string): string {
  if (!/^[A-Z_,]*$/.test(text)) throw new RungateError('TARGET_UNAVAILABLE', 'the connection\'s sqlMode is not a list of mode names; nothing was executed');
  return `'${text}'`;
}

/**
 * MySQL and MariaDB: each run is one transaction on a pooled connection whose session is
 * pinned first — sql_mode (the quoting the body's values were escaped for), time_zone,
 * server-side time limits — then `START TRANSACTION READ ONLY` for @readonly runbooks and
 * explorations (which are always rolled back, on a pool that sends one statement a query),
 * ROLLBACK for dry runs and on any error, KILL QUERY from a second connection when the
 * pipeline gives up, and COM_RESET_CONNECTION before the connection serves another run.
 */
export class MysqlAdapter implements ExecutorAdapter<'mysql', PreparedMysqlRun> {
  readonly type = 'mysql' as const;
  readonly explores = ['explore_sql', 'explore_schema'] as const;
  private readonly releasing = new Set<Promise<void>>();
  private readonly killConnectionAfterMs: number;

  constructor(
    private readonly targets: MysqlTargets,
    private readonly log: PipelineLog,
    options: MysqlAdapterOptions = {},
  ) {
    this.killConnectionAfterMs = options.killConnectionAfterMs ?? DEFAULT_KILL_CONNECTION_AFTER_MS;
  }

  prepare(claims: RunTicketClaims, body: string, connection: MysqlConnectionConfig, needs?: OutputNeeds): PreparedMysqlRun {
    const quoting = mysqlQuotingOf(connection);
    // Values escaped for one sql_mode can leave their quotes under another: run only what was rendered for this one.
    if (!claims.mysqlQuoting || !sameQuoting(claims.mysqlQuoting, quoting)) {
      throw new RungateError(
        'EXECUTION_FAILED',
        `this run was rendered for ${claims.mysqlQuoting ? 'another sql_mode' : 'no MySQL sql_mode'} than connection ${connection.name} pins (${connection.sqlMode || 'empty sql_mode'}); its parameters would not be read as they were escaped. Call the tool again. Nothing was executed.`,
      );
    }
    const statements = mysqlStatements(body, quoting);
    if (claims.explore) refuseUnlessRead(statements);
    for (const statement of statements) {
      if (statement.kind === 'transaction-control') {
        throw refused(
          statement,
          `is ${statement.what}: Rungate runs each MySQL runbook in one transaction of its own (read-only for @readonly, rolled back for a dry run or on error), so a runbook may not begin, commit or roll back transactions, change autocommit or lock tables (savepoints are fine); remove it`,
        );
      }
      if (statement.kind === 'session-pin') {
        throw refused(statement, `sets ${statement.what}, which the executor pins for every run so that parameter values are read as they were escaped and the time limit holds; remove it`);
      }
    }
    const implicitCommits = statements.filter((statement) => statement.kind === 'implicit-commit');
    const [ddl] = implicitCommits;
    if (ddl && claims.dryRun) {
      throw refused(ddl, 'commits implicitly in MySQL (DDL cannot be rolled back), so a dry run could not undo it; review it and run it without dryRun');
    }
    if (ddl && claims.readOnly) {
      throw refused(ddl, 'commits implicitly in MySQL and would run outside the read-only transaction of this @readonly runbook; remove it or drop @readonly');
    }
    return {
      runId: claims.runId,
      target: this.targets.targetFor(connection),
      body,
      statements,
      implicitCommits,
      // Enforced here from the claim alone, independent of what policy's check said of the body.
      readOnly: claims.readOnly || claims.explore !== undefined,
      dryRun: claims.dryRun,
      explore: claims.explore !== undefined,
      timeoutMs: claims.limits.timeoutMs,
      // The executor's own configuration caps what a ticket may ask for.
      maxRows: Math.min(claims.limits.maxRows, connection.maxRows),
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
      sourceColumns: needs?.sourceColumns ?? false,
    };
  }

  /**
   * Takes a pooled connection, pins its session and opens the run's transaction (ADR 9): this
   * happens while the pipeline claims the run id and waits for the ack of `started`, and sends
   * nothing of the runbook. A run that does not go ahead rolls it back empty (`abandon`).
   */
  async open(prepared: PreparedMysqlRun, signal: AbortSignal): Promise<void> {
    prepared.session ??= this.begin(prepared, signal);
    await prepared.session;
  }

  async abandon(prepared: PreparedMysqlRun): Promise<void> {
    const session = await prepared.session?.catch(() => undefined);
    if (!session || prepared.finished) return;
    const reusable = await query(session.connection, 'ROLLBACK').then(
      () => true,
      () => false,
    );
    this.end(prepared, session, reusable);
  }

  async run(prepared: PreparedMysqlRun, signal: AbortSignal): Promise<SqlOutput> {
    const session = await (prepared.session ??= this.begin(prepared, signal));
    const { connection } = session;
    let phase: RunPhase = 'body';
    let completed: number | undefined;
    let reusable = true;
    try {
      if (signal.aborted) throw cancelledError('before its body ran');
      const output = await runBody(connection, prepared.body, prepared.statements, { maxRows: prepared.maxRows, maxBytes: prepared.maxBytes, sourceColumns: prepared.sourceColumns });
      phase = 'commit';
      // An exploration is rolled back even though it could not write: nothing it did outlives it.
      await query(connection, prepared.dryRun || prepared.explore ? 'ROLLBACK' : 'COMMIT');
      return output;
    } catch (caught) {
      const error = caught instanceof BodyFailure ? caught.cause : caught;
      if (caught instanceof BodyFailure) completed = caught.completed;
      reusable = (await query(connection, 'ROLLBACK').then(() => true, () => false)) && reusable;
      throw this.failure(error, prepared, phase, signal, completed);
    } finally {
      this.end(prepared, session, reusable);
    }
  }

  /**
   * One pooled connection inside the run's transaction. Fails with a scrubbed error and
   * leaves nothing open when the connection or the session set-up fails.
   */
  private async begin(prepared: PreparedMysqlRun, signal: AbortSignal): Promise<SqlSession> {
    if (signal.aborted) throw cancelledError('before it started');
    const connection = await this.acquire(prepared, signal);
    let markStopped: () => void = () => undefined;
    prepared.stopped = new Promise((resolve) => (markStopped = resolve));
    const session: SqlSession = { connection, markStopped };
    try {
      const flavor = await this.flavorOf(prepared.target, connection);
      const [pin, start, identify] = this.beginStatements(prepared, flavor);
      let pinned: PinnedSession | undefined;
      if (prepared.explore) {
        // An exploration's connection takes one statement per query, so its set-up goes one by one.
        await query(connection, pin);
        await query(connection, start);
        pinned = (await query<PinnedSession[]>(connection, identify))[0];
      } else {
        const results = await query<unknown[]>(connection, [pin, start, identify].join('; '));
        pinned = (results[results.length - 1] as PinnedSession[] | undefined)?.[0];
      }
      if (!pinned) throw new RungateError('TARGET_UNAVAILABLE', `connection ${prepared.target.name} (${prepared.target.address}): the session could not be set up; nothing was executed`);
      const modes = new Set(pinned.sql_mode.split(','));
      // The server expands and may drop modes: what matters is that it reads quotes as the values were escaped.
      if (modes.has('ANSI_QUOTES') !== prepared.target.quoting.ansiQuotes || modes.has('NO_BACKSLASH_ESCAPES') !== prepared.target.quoting.noBackslashEscapes) {
        throw new RungateError(
          'TARGET_UNAVAILABLE',
          `connection ${prepared.target.name} (${prepared.target.address}): the server runs the session with sql_mode ${pinned.sql_mode || '(empty)'}, not the quoting of the configured ${prepared.target.sqlMode}; nothing was executed`,
        );
      }
      prepared.connectionId = Number(pinned.id);
      return session;
    } catch (error) {
      const reusable = await query(connection, 'ROLLBACK').then(() => true, () => false);
      this.end(prepared, session, reusable && !(error instanceof RungateError));
      throw this.failure(error, prepared, 'begin', signal);
    }
  }

  /**
   * One round trip pins the session and opens the transaction: sql_mode (quoting), time_zone
   * (TIMESTAMP values in UTC), autocommit off (statements after an implicit commit stay in a
   * transaction), the time limit on the server, lock waits no longer than the run, and an
   * idle timeout should this process vanish. It returns the connection id for KILL QUERY.
   * An exploration waits for locks only briefly.
   */
  private beginStatements(prepared: PreparedMysqlRun, flavor: ServerFlavor): [pin: string, start: string, identify: string] {
    const runSeconds = Math.max(1, Math.ceil(prepared.timeoutMs / 1000));
    const seconds = prepared.explore ? Math.min(runSeconds, EXPLORE_LOCK_WAIT_S) : runSeconds;
    const limit = flavor === 'mariadb' ? `max_statement_time = ${(Math.max(1, prepared.timeoutMs) / 1000).toFixed(3)}` : `max_execution_time = ${Math.max(1, Math.ceil(prepared.timeoutMs))}`;
    return [
      `SET SESSION sql_mode = ${literal(prepared.target.sqlMode)}, time_zone = '+00:00', autocommit = 0, ${limit}, ` +
        `lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}, wait_timeout = ${runSeconds + IDLE_MARGIN_S}`,
      // Not READ WRITE: on a read_only server that needs CONNECTION_ADMIN, even for a body that only reads.
      prepared.readOnly ? 'START TRANSACTION READ ONLY' : 'START TRANSACTION',
      'SELECT CONNECTION_ID() AS id, @@SESSION.sql_mode AS sql_mode',
    ];
  }

  /** MariaDB or MySQL, from the first connection's VERSION(): they limit statements differently. */
  private async flavorOf(target: MysqlTarget, connection: PoolConnection): Promise<ServerFlavor> {
    if (target.flavor) return target.flavor;
    const rows = await query<{ version: string }[]>(connection, 'SELECT VERSION() AS version');
    target.flavor = /mariadb/i.test(rows[0]?.version ?? '') ? 'mariadb' : 'mysql';
    return target.flavor;
  }

  private failure(error: unknown, prepared: PreparedMysqlRun, phase: RunPhase, signal: AbortSignal, completed?: number): RungateError {
    const { target } = prepared;
    return describeFailure(error, {
      connection: target.name,
      address: target.address,
      phase,
      scrubber: target.scrubber,
      readOnly: prepared.readOnly,
      timeoutMs: prepared.timeoutMs,
      cancelled: signal.aborted,
      implicitCommits: prepared.implicitCommits,
      completed,
      exploration: prepared.explore,
    });
  }

  /** The run stops using its connection; it returns to the pool once its session is reset. */
  private end(prepared: PreparedMysqlRun, session: SqlSession, reusable: boolean): void {
    prepared.finished = true;
    prepared.connectionId = undefined;
    session.markStopped();
    const releasing = this.release(session.connection, prepared, reusable);
    this.releasing.add(releasing);
    void releasing.finally(() => this.releasing.delete(releasing));
  }

  /**
   * A body may change session state (user variables, temporary tables, GET_LOCK locks, the
   * pinned settings); none of it may reach the next run on this pooled connection, which may
   * be another user's: COM_RESET_CONNECTION, or the connection is closed. A connection a KILL
   * was sent to is closed too: a late KILL QUERY would hit the next run's statement.
   */
  private async release(connection: PoolConnection, prepared: PreparedMysqlRun, reusable: boolean): Promise<void> {
    await prepared.cancelling;
    if (!reusable || prepared.cancelling) {
      connection.destroy();
      return;
    }
    const clean = await new Promise<boolean>((resolve) => connection.reset((error: Error | null) => resolve(!error)));
    if (clean) connection.release();
    else connection.destroy();
  }

  async cancel(prepared: PreparedMysqlRun): Promise<void> {
    if (prepared.finished || prepared.cancelling) return prepared.cancelling;
    const id = prepared.connectionId;
    // Not begun yet: the run sees its aborted signal before it sends the body.
    if (id === undefined) return;
    prepared.cancelling = this.stopQuery(prepared, id);
    return prepared.cancelling;
  }

  async close(): Promise<void> {
    await Promise.all(this.releasing);
    await this.targets.close();
  }

  /** Waits for a pooled connection, unless the run is cancelled first (a full pool waits). */
  private acquire(prepared: PreparedMysqlRun, signal: AbortSignal): Promise<PoolConnection> {
    const { target } = prepared;
    return new Promise<PoolConnection>((resolve, reject) => {
      const onAbort = () => reject(cancelledError('while it waited for a database connection'));
      signal.addEventListener('abort', onAbort, { once: true });
      (prepared.explore ? target.explorePool : target.pool).getConnection((error, connection) => {
        signal.removeEventListener('abort', onAbort);
        if (error) {
          reject(this.failure(error, prepared, 'connect', signal));
          return;
        }
        if (signal.aborted) connection.release();
        else resolve(connection);
      });
    });
  }

  private async stopQuery(prepared: PreparedMysqlRun, id: number): Promise<void> {
    const { target } = prepared;
    try {
      await this.targets.kill(target, 'QUERY', id);
      if (await settlesWithin(prepared.stopped ?? Promise.resolve(), this.killConnectionAfterMs)) return;
      this.log.warn(`run ${prepared.runId}: connection ${id} did not stop ${this.killConnectionAfterMs} ms after KILL QUERY; killing the connection`);
      await this.targets.kill(target, 'CONNECTION', id);
    } catch (error) {
      this.log.warn(`run ${prepared.runId}: ${error instanceof RungateError ? error.message : 'killing the query failed'}`);
    }
  }
}
