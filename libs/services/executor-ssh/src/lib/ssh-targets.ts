import type { SshConnectionConfig } from '@rungate/config';
import { SecretKeyedTargets, resolveTargetSecret, targetUnavailable as unavailable, type PipelineLog } from '@rungate/executors';
import { utils, type ParsedKey } from 'ssh2';
import { parsePinnedHostKey } from './host-key';
import { remoteCommand } from './remote-script';
import { SshPool, type SshEndpoint } from './ssh-pool';

export const DEFAULT_POOL = { max: 4, sessions: 4, idleTimeout: 300_000 } as const;
export const DEFAULT_KEEPALIVE_MS = 15_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Warm spare sessions kept per connection unless `warmSessions` says otherwise. */
export const DEFAULT_WARM_SESSIONS = 1;

/** A connection's credentials, resolved from their secret references. */
export interface SshSecrets {
  privateKey?: string;
  passphrase?: string;
  password?: string;
}

export function resolveSshSecrets(connection: SshConnectionConfig, env: NodeJS.ProcessEnv = process.env): SshSecrets {
  if (connection.privateKey === undefined && connection.password === undefined) {
    throw unavailable(connection.name, 'neither privateKey nor password is configured');
  }
  const secret = (key: keyof SshSecrets): string | undefined => {
    const ref = connection[key];
    return ref === undefined ? undefined : resolveTargetSecret(connection.name, ref, env, key);
  };
  return { privateKey: secret('privateKey'), passphrase: secret('passphrase'), password: secret('password') };
}

/**
 * What ssh2 needs for a connection, checked before any network traffic: an unreadable key
 * or a wrong passphrase is named here, not reported as a refused login.
 */
export function sshEndpoint(connection: SshConnectionConfig, secrets: SshSecrets): SshEndpoint {
  let privateKey: ParsedKey | undefined;
  if (secrets.privateKey !== undefined) {
    const parsed = utils.parseKey(secrets.privateKey, secrets.passphrase);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key === undefined || key instanceof Error || key.getPrivatePEM() === null) {
      const encrypted = key instanceof Error && /encrypted|passphrase|decrypt/i.test(key.message);
      throw unavailable(
        connection.name,
        encrypted
          ? `privateKey is encrypted and ${secrets.passphrase === undefined ? 'no passphrase is configured' : 'the passphrase does not open it'}`
          : 'privateKey is not a private key Rungate can read (OpenSSH or PEM: ed25519, ecdsa, rsa)',
      );
    }
    // Decrypted once here (bcrypt on purpose slow), not again on every connect.
    privateKey = key;
  }
  const pool = connection.pool ?? DEFAULT_POOL;
  return {
    name: connection.name,
    host: connection.host,
    port: connection.port,
    user: connection.user,
    privateKey,
    password: secrets.password,
    hostKey: parsePinnedHostKey(connection.hostKey, connection.name),
    keepaliveMs: connection.keepalive ?? DEFAULT_KEEPALIVE_MS,
    connectTimeoutMs: connection.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxConnections: pool.max,
    sessionsPerConnection: pool.sessions,
    idleTimeoutMs: pool.idleTimeout,
    command: remoteCommand(connection.shell),
    warmSessions: connection.warmSessions ?? DEFAULT_WARM_SESSIONS,
  };
}

/** One connection pool per configured SSH connection, opened on first use, a new one when its key, password or settings change. */
export class SshTargets {
  private readonly pools = new SecretKeyedTargets<SshPool>((pool, name) => {
    this.log.log(`connection ${name}: configuration or secrets changed; new runs use new SSH connections`);
    void pool.close();
  });

  constructor(
    private readonly log: PipelineLog,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  poolFor(connection: SshConnectionConfig): SshPool {
    const secrets = resolveSshSecrets(connection, this.env);
    // Keys are parsed (and encrypted ones decrypted, which is slow on purpose) only when something changed.
    return this.pools.targetFor(connection.name, [connection, secrets], () => new SshPool(sshEndpoint(connection, secrets), this.log));
  }

  /** Warm spare sessions open (or opening) on all connections: for tests and metrics. */
  get spares(): number {
    return this.pools.targets().reduce((count, pool) => count + pool.spares, 0);
  }

  /** SSH connections open (or opening) on all pools: for tests and metrics. */
  get connections(): number {
    return this.pools.targets().reduce((count, pool) => count + pool.size, 0);
  }

  /** Closes every pool; resolves once their warm spares are closed (busy connections close when their runs end). */
  async close(): Promise<void> {
    await Promise.all(this.pools.clear().map((pool) => pool.close()));
  }
}
