import { resolveSecret, type PostgresConnectionConfig } from '@rungate/config';
import { RungateError } from '@rungate/contracts';
import { SecretKeyedTargets, SecretScrubber, resolveTargetSecret, targetUnavailable, type PipelineLog } from '@rungate/executors';
import type { ConnectionOptions } from 'node:tls';
import { Client, Pool } from 'pg';
import { builtinTypes, type PgTypeInfo } from './sql-values';

export const APPLICATION_NAME = 'rungate-executor-postgres';
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
const SIGNAL_CONNECT_TIMEOUT_MS = 5000;

/** One configured PostgreSQL connection as the executor uses it; only this process sees `url`. */
export interface PostgresTarget {
  readonly name: string;
  /** `host:port` for messages: enough to find the server, nothing to log in with. */
  readonly address: string;
  readonly pool: Pool;
  /** Type names and array element types by OID, learnt from pg_type and kept per database. */
  readonly types: Map<number, PgTypeInfo>;
  readonly scrubber: SecretScrubber;
  readonly url: string;
  /** TLS options from the connection's `tls`, or undefined to leave it to the URL. */
  readonly ssl: false | ConnectionOptions | undefined;
}

/** URL parameters that would override the `tls` block in node-postgres; only one place may say. */
const URL_TLS_PARAMS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey'];

/** libpq's sslmode semantics as node-postgres options, with the PEMs resolved from secret references. */
export function tlsOptions(connection: PostgresConnectionConfig, env: NodeJS.ProcessEnv): false | ConnectionOptions | undefined {
  const tls = connection.tls;
  if (tls === undefined) return undefined;
  if (tls.mode === 'disable') return false;
  const pem = (ref: string | undefined): string | undefined => (ref === undefined ? undefined : resolveSecret(ref, env));
  const options: ConnectionOptions = { ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key), rejectUnauthorized: tls.mode !== 'require' };
  // verify-ca checks the chain but not that the certificate names this host.
  if (tls.mode === 'verify-ca') options.checkServerIdentity = () => undefined;
  return options;
}

function addressOf(url: URL): string {
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  return `${host}:${url.port || '5432'}`;
}

/** Lazily opens one pool per connection, a new one when its URL (the password in it) or its settings change. */
export class PostgresTargets {
  private readonly targets = new SecretKeyedTargets<PostgresTarget>((target) => this.retire(target));

  constructor(
    private readonly log: PipelineLog,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  targetFor(connection: PostgresConnectionConfig): PostgresTarget {
    const url = resolveTargetSecret(connection.name, connection.url, this.env);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      parsed = new URL('invalid:');
    }
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      throw targetUnavailable(connection.name, `${connection.url} is not a postgres:// URL`);
    }
    if (connection.tls !== undefined && URL_TLS_PARAMS.some((param) => parsed.searchParams.has(param))) {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: TLS is set both in the url and in tls; keep it in tls only. Nothing was executed`);
    }
    let ssl: false | ConnectionOptions | undefined;
    try {
      ssl = tlsOptions(connection, this.env);
    } catch (error) {
      throw targetUnavailable(connection.name, `tls: ${(error as Error).message}`);
    }
    const material = [url, connection.pool.max, connection.pool.idleTimeout ?? null, ssl === undefined ? null : ssl === false ? false : { ...ssl, checkServerIdentity: connection.tls?.mode }];
    return this.targets.targetFor(connection.name, material, () => this.open(connection, url, addressOf(parsed), ssl));
  }

  private open(connection: PostgresConnectionConfig, url: string, address: string, ssl: false | ConnectionOptions | undefined): PostgresTarget {
    const scrubber = SecretScrubber.forUrl(url);
    const pool = new Pool({
      connectionString: url,
      max: connection.pool.max,
      idleTimeoutMillis: connection.pool.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: APPLICATION_NAME,
      keepAlive: true,
      ...(ssl === undefined ? {} : { ssl }),
    });
    // An idle connection that dies (server restart, network) must not take the process with it.
    pool.on('error', (error) => this.log.warn(`connection ${connection.name} (${address}): an idle database connection failed: ${scrubber.scrub(error.message)}`));
    return { name: connection.name, address, pool, types: builtinTypes(), scrubber, url, ssl };
  }

  private retire(target: PostgresTarget): void {
    this.log.log(`connection ${target.name}: configuration changed; new runs use a new pool`);
    target.pool.end().catch((error: unknown) => this.log.warn(`connection ${target.name}: closing the old pool failed: ${target.scrubber.scrub(String(error))}`));
  }

  /**
   * Cancels (or terminates) a backend from a separate connection, outside the pool: a pool
   * whose slots are all taken by long runs must still be able to stop one.
   */
  async signalBackend(target: PostgresTarget, signal: 'cancel' | 'terminate', pid: number): Promise<boolean> {
    const client = new Client({
      connectionString: target.url,
      connectionTimeoutMillis: SIGNAL_CONNECT_TIMEOUT_MS,
      application_name: `${APPLICATION_NAME}-${signal}`,
      ...(target.ssl === undefined ? {} : { ssl: target.ssl }),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const fn = signal === 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
      const { rows } = await client.query<{ done: boolean }>(`SELECT pg_catalog.${fn}($1) AS done`, [pid]);
      return rows[0]?.done === true;
    } catch (error) {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${target.name} (${target.address}): cannot ${signal} backend ${pid}: ${target.scrubber.scrub((error as Error).message ?? String(error))}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.clear().map((target) => target.pool.end().catch(() => undefined)));
  }
}
