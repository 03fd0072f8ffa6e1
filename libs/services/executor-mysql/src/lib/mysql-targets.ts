import { mysqlQuotingOf, resolveSecret, type MysqlConnectionConfig } from '@rungate/config';
import { RungateError, type MysqlQuoting } from '@rungate/contracts';
import { SecretKeyedTargets, SecretScrubber, resolveTargetSecret, targetUnavailable, type PipelineLog } from '@rungate/executors';
import { createConnection, createPool, type ConnectionOptions, type Pool, type PoolConnection, type SslOptions } from 'mysql2';

const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
const KILL_CONNECT_TIMEOUT_MS = 5000;
/**
 * utf8mb4 on every connection: no multi-byte sequence of it contains an ASCII byte, so no
 * value's bytes can be read as a quote or a backslash (the GBK/SJIS escaping attacks), and a
 * body may not change it (mysql-statements.ts).
 */
const CHARSET = 'UTF8MB4_GENERAL_CI';

/** MariaDB limits every statement with max_statement_time (s); MySQL only SELECTs, with max_execution_time (ms). */
export type ServerFlavor = 'mariadb' | 'mysql';

/** One configured MySQL connection as the executor uses it; only this process sees the password. */
export interface MysqlTarget {
  readonly name: string;
  /** `host:port` for messages: enough to find the server, nothing to log in with. */
  readonly address: string;
  readonly pool: Pool;
  /**
   * Explorations' own pool (ADR 19), of the same size: its connections are opened without
   * multi-statements, so the server itself refuses a second statement in an exploration.
   */
  readonly explorePool: Pool;
  readonly scrubber: SecretScrubber;
  /** The sql_mode every session is pinned to, and the quoting it implies. */
  readonly sqlMode: string;
  readonly quoting: MysqlQuoting;
  /** Learnt from the first connection's VERSION(). */
  flavor?: ServerFlavor;
  readonly options: ConnectionOptions;
}

/** mysql2's ssl options with libpq's sslmode semantics, PEMs resolved from secret references. */
export function sslOptions(connection: MysqlConnectionConfig, env: NodeJS.ProcessEnv): SslOptions | undefined {
  const tls = connection.tls;
  if (tls === undefined || tls.mode === 'disable') return undefined;
  const pem = (ref: string | undefined): string | undefined => (ref === undefined ? undefined : resolveSecret(ref, env));
  return { ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key), rejectUnauthorized: tls.mode !== 'require', verifyIdentity: tls.mode === 'verify-full' };
}

/** `mysql://user:password@host:3306/db` as mysql2 options; anything else in the URL is refused. */
export function connectionOptions(name: string, url: string): { options: ConnectionOptions; address: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw targetUnavailable(name, 'its url is not a mysql:// URL');
  }
  if (parsed.protocol !== 'mysql:' || !parsed.hostname) throw targetUnavailable(name, 'its url is not a mysql://user:password@host:port/database URL');
  // Options in the URL (charset, flags, multipleStatements…) could undo what the executor pins.
  if (parsed.search) throw new RungateError('TARGET_UNAVAILABLE', `connection ${name}: its url has query parameters; put TLS in tls and leave the rest to the executor. Nothing was executed`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(parsed.port || 3306);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return {
    address: `${parsed.hostname}:${port}`,
    options: { host, port, user: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password), ...(database ? { database } : {}) },
  };
}

/** Lazily opens one pool (and its exploration pool) per connection, new ones when its URL (the password in it) or its settings change. */
export class MysqlTargets {
  private readonly targets = new SecretKeyedTargets<MysqlTarget>((target) => this.retire(target));

  constructor(
    private readonly log: PipelineLog,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  targetFor(connection: MysqlConnectionConfig): MysqlTarget {
    const url = resolveTargetSecret(connection.name, connection.url, this.env);
    const { options, address } = connectionOptions(connection.name, url);
    let ssl: SslOptions | undefined;
    try {
      ssl = sslOptions(connection, this.env);
    } catch (error) {
      throw targetUnavailable(connection.name, `tls: ${(error as Error).message}`);
    }
    const material = [url, connection.pool.max, connection.pool.idleTimeout ?? null, ssl ?? null, connection.sqlMode];
    return this.targets.targetFor(connection.name, material, () => this.open(connection, { ...options, ...(ssl ? { ssl } : {}) }, address, url));
  }

  private open(connection: MysqlConnectionConfig, base: ConnectionOptions, address: string, url: string): MysqlTarget {
    const scrubber = SecretScrubber.forUrl(url);
    const options: ConnectionOptions = {
      ...base,
      charset: CHARSET,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // The body is policy-rendered and hash-checked; it runs as reviewed, every statement of it (ADR 16).
      multipleStatements: true,
      // A body must not make the executor send one of its own files (LOAD DATA LOCAL INFILE).
      flags: ['-LOCAL_FILES'],
      // Values arrive as the server's text: nothing rounded, nothing moved to a local time zone.
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      decimalNumbers: false,
      // The body is sent exactly as reviewed: mysql2 never substitutes `?` or `:name` in it.
      queryFormat: (sql: string) => sql,
      enableKeepAlive: true,
    };
    const poolOf = (connectionOptions: ConnectionOptions): Pool => {
      const pool = createPool({
        ...connectionOptions,
        connectionLimit: connection.pool.max,
        maxIdle: connection.pool.max,
        idleTimeout: connection.pool.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
        waitForConnections: true,
        queueLimit: 0,
      });
      // An idle connection that dies (server restart, network) must not take the process with it.
      pool.on('connection', (conn: PoolConnection) => {
        conn.on('error', (error: Error) => this.log.warn(`connection ${connection.name} (${address}): a pooled connection failed: ${scrubber.scrub(error.message)}`));
      });
      return pool;
    };
    const pool = poolOf(options);
    const explorePool = poolOf({ ...options, multipleStatements: false });
    return { name: connection.name, address, pool, explorePool, scrubber, sqlMode: connection.sqlMode, quoting: mysqlQuotingOf(connection), options };
  }

  private retire(target: MysqlTarget): void {
    this.log.log(`connection ${target.name}: configuration changed; new runs use a new pool`);
    for (const pool of [target.pool, target.explorePool]) {
      pool.end((error) => {
        if (error) this.log.warn(`connection ${target.name}: closing the old pool failed: ${target.scrubber.scrub(error.message)}`);
      });
    }
  }

  /**
   * `KILL QUERY` (or `KILL CONNECTION`) from a separate connection, outside the pool: a pool
   * whose slots are all taken by long runs must still be able to stop one.
   */
  async kill(target: MysqlTarget, what: 'QUERY' | 'CONNECTION', id: number): Promise<void> {
    const { multipleStatements: _multiple, queryFormat: _format, ...options } = target.options;
    const conn = createConnection({ ...options, connectTimeout: KILL_CONNECT_TIMEOUT_MS });
    conn.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => conn.query(`KILL ${what} ${Math.trunc(id)}`, (error) => (error && error.errno !== 1094 ? reject(error) : resolve())));
    } catch (error) {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${target.name} (${target.address}): cannot KILL ${what} ${id}: ${target.scrubber.scrub((error as Error).message ?? String(error))}`);
    } finally {
      conn.destroy();
    }
  }

  async close(): Promise<void> {
    const pools = this.targets.clear().flatMap((target) => [target.pool, target.explorePool]);
    await Promise.all(pools.map((pool) => new Promise<void>((resolve) => pool.end(() => resolve()))));
  }
}
