import type { PostgresConnectionConfig } from '@rungate/config';
import { RungateError } from '@rungate/contracts';
import { startTlsPostgres, type TestCluster } from '@rungate/testing';
import { PostgresTargets } from './postgres-targets';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** TLS to the target, against a server of its own that rejects every connection without TLS. */
describe('executor-postgres TLS', () => {
  let cluster: TestCluster;
  let targets: PostgresTargets;
  const env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    cluster = await startTlsPostgres();
    env['TLS_DB'] = cluster.url;
    env['TLS_DB_SSLMODE'] = `${cluster.url}?sslmode=require`;
    // An address the server certificate does not name.
    env['TLS_DB_UNNAMED'] = cluster.url.replace('127.0.0.1', '127.0.0.2');
  });

  beforeEach(() => {
    targets = new PostgresTargets(quiet, env);
  });

  afterEach(async () => {
    await targets.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  function connection(tls: PostgresConnectionConfig['tls'], url = 'env:TLS_DB'): PostgresConnectionConfig {
    return { name: 'tls-db', type: 'postgres', url, pool: { max: 2 }, maxRows: 10, maxBytes: 4096, tls };
  }

  async function sslInUse(config: PostgresConnectionConfig): Promise<boolean> {
    const { rows } = await targets.targetFor(config).pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]?.ssl === true;
  }

  it('verify-full with the CA connects over TLS', async () => {
    expect(await sslInUse(connection({ mode: 'verify-full', ca: `file:${cluster.pki.caCert}` }))).toBe(true);
  });

  it('verify-full refuses a server whose certificate does not name the host', async () => {
    await expect(sslInUse(connection({ mode: 'verify-full', ca: `file:${cluster.pki.caCert}` }, 'env:TLS_DB_UNNAMED'))).rejects.toThrow(/altnames|does not match/i);
  });

  it('verify-ca accepts the chain without checking the host name', async () => {
    expect(await sslInUse(connection({ mode: 'verify-ca', ca: `file:${cluster.pki.caCert}` }, 'env:TLS_DB_UNNAMED'))).toBe(true);
  });

  it('require encrypts without a CA', async () => {
    expect(await sslInUse(connection({ mode: 'require' }))).toBe(true);
  });

  it('verify-full without the CA refuses the self-signed chain', async () => {
    await expect(sslInUse(connection({ mode: 'verify-full' }))).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('disable is refused by a server that requires TLS', async () => {
    await expect(sslInUse(connection({ mode: 'disable' }))).rejects.toThrow(/pg_hba|reject|no encryption/i);
  });

  it('refuses TLS set both in the url and in tls, before connecting', () => {
    const attempt = (): unknown => targets.targetFor(connection({ mode: 'require' }, 'env:TLS_DB_SSLMODE'));
    expect(attempt).toThrow(RungateError);
    expect(attempt).toThrow(/keep it in tls only/);
  });

  it('names an unreadable CA file without connecting', () => {
    expect(() => targets.targetFor(connection({ mode: 'verify-full', ca: 'file:/nonexistent/ca.pem' }))).toThrow(/tls:/);
  });
});
