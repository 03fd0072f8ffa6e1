import { AsyncLocalStorage } from 'node:async_hooks';
import { RungateError } from '@rungate/contracts';
import type { PipelineLog } from '@rungate/executors';
import { Client, type ClientChannel, type ConnectConfig, type ParsedKey, type PasswordAuthMethod, type PublicKeyAuthMethod } from 'ssh2';
import { hostKeyFingerprint, isPinnedHostKey, type PinnedHostKey } from './host-key';
import { describeSshFailure, type SshFailureContext } from './ssh-errors';

/** One configured SSH connection with its secrets resolved: only this process holds it. */
export interface SshEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Parsed (and decrypted) once, when the connection's secrets are resolved. */
  readonly privateKey?: ParsedKey;
  readonly password?: string;
  readonly hostKey: PinnedHostKey;
  readonly keepaliveMs: number;
  readonly connectTimeoutMs: number;
  /** Connections kept open at most, and runs at once on each. */
  readonly maxConnections: number;
  readonly sessionsPerConnection: number;
  readonly idleTimeoutMs: number;
}

/**
 * Outside any call: a connection outlives the run that opened it, so its own log lines (a
 * drop, a refused host key) must not carry that run's trace and run id.
 */
const outsideAnyCall = AsyncLocalStorage.snapshot();

/** Unanswered keep-alives before a connection counts as dead (OpenSSH's ServerAliveCountMax). */
const KEEPALIVE_COUNT_MAX = 3;

/**
 * One SSH (TCP) connection. It leaves its pool when it closes for any reason — dropped by
 * the server or the network, a missed keep-alive, idle — and is never reused after.
 */
export class SshLink {
  readonly client = new Client();
  /** Runs holding a session on this connection (a cancel's session is not counted). */
  active = 0;
  closed = false;
  private connected = false;
  private ending = false;
  /** Whether a run already used it: a failure to open a session then may be a stale connection. */
  served = false;
  readonly ready: Promise<void>;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly endpoint: SshEndpoint,
    private readonly log: PipelineLog,
    onClose: (link: SshLink) => void,
  ) {
    let hostKeyRejected = false;
    let failure: Error | undefined;
    let rejectReady: (error: RungateError) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      this.client.once('ready', () => {
        this.connected = true;
        resolve();
      });
      rejectReady = reject;
    });
    // Callers await `ready` (or never do, when a run was cancelled while it waited): never unhandled.
    this.ready.catch(() => undefined);
    const fail = () => rejectReady(describeSshFailure(failure ?? new Error('closed'), this.context(hostKeyRejected)));
    this.client.on('error', (error: Error) => {
      failure ??= error;
      fail();
    });
    this.client.once('close', () => {
      this.closed = true;
      clearTimeout(this.idleTimer);
      fail();
      if (this.connected && !this.ending) {
        const code = (failure as { code?: unknown } | undefined)?.code;
        const reason = typeof code === 'string' ? code : (failure?.message ?? 'closed by the server');
        this.log.warn(`connection ${endpoint.name} (${endpoint.host}:${endpoint.port}): the SSH connection dropped (${reason}); the next run reconnects`);
      }
      onClose(this);
    });
    // Key first, then password; the parsed key goes in as it is, so an encrypted one is not decrypted again.
    const authHandler: (PublicKeyAuthMethod | PasswordAuthMethod)[] = [];
    if (endpoint.privateKey) authHandler.push({ type: 'publickey', username: endpoint.user, key: endpoint.privateKey });
    if (endpoint.password !== undefined) authHandler.push({ type: 'password', username: endpoint.user, password: endpoint.password });
    const config: ConnectConfig = {
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      authHandler,
      algorithms: { serverHostKey: endpoint.hostKey.algorithms as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      hostVerifier: (presented: Buffer) => {
        if (isPinnedHostKey(endpoint.hostKey, presented)) return true;
        hostKeyRejected = true;
        this.log.warn(
          `connection ${endpoint.name} (${endpoint.host}:${endpoint.port}): refused: the server presented host key ${hostKeyFingerprint(presented)}, ` +
            `not the pinned ${endpoint.hostKey.type} key ${hostKeyFingerprint(endpoint.hostKey.blob)}`,
        );
        return false;
      },
      keepaliveInterval: endpoint.keepaliveMs,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      readyTimeout: endpoint.connectTimeoutMs,
    };
    try {
      this.client.connect(config);
    } catch (error) {
      // ssh2 validates its options synchronously; the connection never opened.
      failure = error as Error;
      this.closed = true;
      fail();
      return;
    }
    // Every exec is a handful of small packets: Nagle's algorithm would hold each back ~40 ms.
    this.client.setNoDelay(true);
  }

  /** Opens a session that runs `command`; resolves once the server accepted the exec request. */
  exec(command: string): Promise<ClientChannel> {
    return new Promise<ClientChannel>((resolve, reject) => {
      try {
        this.client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel)));
      } catch (error) {
        reject(error);
      }
    });
  }

  markIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.end(), this.endpoint.idleTimeoutMs);
    this.idleTimer.unref();
  }

  markBusy(): void {
    clearTimeout(this.idleTimer);
  }

  end(): void {
    clearTimeout(this.idleTimer);
    this.ending = true;
    if (!this.closed) this.client.end();
  }

  /** Drops the connection at once (its sessions close with it). */
  destroy(): void {
    clearTimeout(this.idleTimer);
    this.ending = true;
    this.client.destroy();
  }

  context(hostKeyRejected = false): SshFailureContext {
    return { connection: this.endpoint.name, address: `${this.endpoint.host}:${this.endpoint.port}`, user: this.endpoint.user, hostKeyType: this.endpoint.hostKey.type, hostKeyRejected };
  }
}

interface Waiter {
  wake: () => void;
}

function cancelledWhileWaiting(): RungateError {
  return new RungateError('EXECUTION_FAILED', 'the run was cancelled while it waited for an SSH connection; nothing was executed');
}

/**
 * The SSH connections to one configured host: at most `maxConnections`, each carrying up to
 * `sessionsPerConnection` runs at once (SSH multiplexes sessions over one connection). A run
 * takes the least busy open connection, opens another while under the limit, or waits.
 * Connections that drop are evicted; the next run connects afresh.
 */
export class SshPool {
  private readonly links = new Set<SshLink>();
  private waiters: Waiter[] = [];
  private closing = false;

  constructor(
    readonly endpoint: SshEndpoint,
    private readonly log: PipelineLog,
  ) {}

  /** Open (or opening) connections: for tests and metrics. */
  get size(): number {
    return this.links.size;
  }

  /** A connection with a free session for one run, connected; `release` it when the run ends. */
  async acquire(signal: AbortSignal): Promise<SshLink> {
    for (;;) {
      if (signal.aborted) throw cancelledWhileWaiting();
      if (this.closing) throw new RungateError('SERVICE_UNAVAILABLE', `connection ${this.endpoint.name}: the executor is closing its SSH connections; nothing was executed`);
      const link = this.take();
      if (link) {
        try {
          await this.whileNotAborted(link.ready, signal);
        } catch (error) {
          this.release(link);
          throw error;
        }
        return link;
      }
      await this.slotFreed(signal);
    }
  }

  release(link: SshLink): void {
    link.active--;
    if (link.active === 0 && !link.closed) {
      if (this.closing) link.end();
      else link.markIdle();
    }
    this.wakeOne();
  }

  /** Takes a connection out of the pool for good (it failed a run in a way that suggests it is dead). */
  evict(link: SshLink): void {
    if (this.links.delete(link)) link.destroy();
    this.wakeOne();
  }

  /**
   * Closes idle connections now and busy ones when their runs end: for shutdown, and for a
   * pool replaced after its configuration or secrets changed.
   */
  close(): void {
    this.closing = true;
    for (const link of this.links) if (link.active === 0) link.end();
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  private take(): SshLink | undefined {
    let best: SshLink | undefined;
    for (const link of this.links) {
      if (link.closed || link.active >= this.endpoint.sessionsPerConnection) continue;
      if (!best || link.active < best.active) best = link;
    }
    if (!best && this.links.size < this.endpoint.maxConnections) {
      best = outsideAnyCall(
        () =>
          new SshLink(this.endpoint, this.log, (closed) => {
            this.links.delete(closed);
            this.wakeOne();
          }),
      );
      if (!best.closed) this.links.add(best);
    }
    if (best) {
      best.active++;
      best.markBusy();
    }
    return best;
  }

  private wakeOne(): void {
    this.waiters.shift()?.wake();
  }

  private slotFreed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        wake: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(cancelledWhileWaiting());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private whileNotAborted(ready: Promise<void>, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(cancelledWhileWaiting());
      signal.addEventListener('abort', onAbort, { once: true });
      ready.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }
}
