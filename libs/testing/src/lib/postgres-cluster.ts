import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@rungate/test-util';
import { freePort, startProcess, type ServiceProcess } from './processes';

/** A certificate authority and a server certificate it signed, as PEM files. */
export interface TestPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/**
 * A throwaway PostgreSQL server of its own (initdb, loopback, temp dir), for what the shared
 * server on 5432 must not be changed for: TLS, pg_hba rules, being stopped.
 */
export interface TestCluster {
  port: number;
  dir: string;
  pki: TestPki;
  /** Superuser URL, trust auth, TLS left to the client. */
  url: string;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).sort().at(-1) : undefined;
  if (!version) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return join(root, version, 'bin');
}

/** Runs as the postgres OS user when we are root (initdb and postgres refuse root). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA and a certificate for localhost / 127.0.0.1 signed by it. */
export function createTestPki(dir: string): TestPki {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rungate test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt'], dir);
  return { caCert: join(dir, 'ca.crt'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key') };
}

/**
 * Starts a PostgreSQL server on a free loopback port that accepts only TLS connections
 * (`hostssl … trust`, everything else rejected). It also listens on 127.0.0.2, an address
 * its certificate does not name, to tell host-name checks from chain checks.
 */
export async function startTlsPostgres(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-pg-'));
  const pki = createTestPki(dir);
  const data = join(dir, 'data');
  chmodSync(pki.serverKey, 0o600);
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const bin = binDir();
  const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  execFileSync(initdb, initArgs, { stdio: 'ignore' });
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.0/8 trust\nhost all all 127.0.0.0/8 reject\n');
  const port = await freePort();
  const [postgres, args] = asServerUser(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1,127.0.0.2', '-c', 'fsync=off',
    '-c', 'ssl=on', '-c', `ssl_cert_file=${pki.serverCert}`, '-c', `ssl_key_file=${pki.serverKey}`,
  ]);
  const server: ServiceProcess = startProcess('postgres-tls', postgres, args, { PATH: process.env['PATH'] ?? '/usr/bin:/bin' });
  await eventually(async () => {
    if (server.child.exitCode !== null) throw new Error(`postgres exited: ${server.output()}`);
    execFileSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]);
  }, 20_000);
  return {
    port,
    dir,
    pki,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PostgreSQL cluster of its own that a suite may stop and start (pg_ctl), e.g. to restart the database mid-run. */
export interface RestartableCluster {
  port: number;
  dir: string;
  /** Superuser URL of database `postgres`, trust auth. */
  url: string;
  /** The URL of another database of this cluster. */
  urlOf(database: string): string;
  restarts: number;
  /** Fast shutdown (every connection dropped, as a failover or an operator's restart does), then start on the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  /** The server log, for failure messages. */
  log(): string;
}

/** initdb into a temporary directory, then pg_ctl start on a free loopback port (fsync off: a test cluster). */
export async function startRestartablePostgres(): Promise<RestartableCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-pgc-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const bin = binDir();
  const run = (command: string, args: string[]) => {
    const [file, argv] = asServerUser(join(bin, command), args);
    execFileSync(file, argv, { stdio: 'ignore' });
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => {
    run('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    await eventually(async () => {
      execFileSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]);
    }, 20_000);
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const cluster: RestartableCluster = {
    port,
    dir,
    url,
    urlOf: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    restarts: 0,
    restart: async ({ downMs = 0 } = {}) => {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
      cluster.restarts++;
    },
    stop: async () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
  return cluster;
}
