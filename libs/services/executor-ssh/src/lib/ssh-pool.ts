import { AsyncLocalStorage } from 'node:async_hooks';
import { RungateError } from '@rungate/contracts';
import type { PipelineLog } from '@rungate/executors';
import { Client, type ClientChannel, type ConnectConfig, type ParsedKey, type PasswordAuthMethod, type PublicKeyAuthMethod } from 'ssh2';
import { hostKeyFingerprint, isPinnedHostKey, type PinnedHostKey } from './host-key';
import { recordExit } from './channel-exit';
import { ShellSession } from './shell-session';
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
  /** The exec request of every session: `exec <shell> -s`. */
  readonly command: string;
  /** Sessions kept open ahead of the next runs on each connection (0: none). */
  readonly warmSessions: number;
}

/**
 * A warm spare: a session opened ahead of any run (`exec <shell> -s`, waiting on stdin, sent
 * nothing), which the next run on its connection takes instead of opening one. It holds one
 * of the connection's session slots; a run that takes it takes that slot over.
 */
export interface Spare {
  /** Once the server accepted the exec request. */
  session?: ShellSession;
  /** The session, or undefined if it could not be opened (or was closed before a run took it). */
  opened: Promise<ShellSession | undefined>;
  /** Whether a run took it (the run then owns the session and the slot). */
  taken: boolean;
  timer?: NodeJS.Timeout;
}

/** A connection with a session slot for one run, and the warm spare the run takes, if there was one. */
export interface Lease {
  link: SshLink;
  spare?: Spare;
}

/**
 * Outside any call: a connection outlives the run that opened it, so its own log lines (a
 * drop, a refused host key) must not carry that run's trace and run id.
 */
const outsideAnyCall = AsyncLocalStorage.snapshot();

/** Unanswered keep-alives before a connection counts as dead (OpenSSH's ServerAliveCountMax). */
const KEEPALIVE_COUNT_MAX = 3;

/** The connection closed without an error of its own: no socket code, so it reads as "the connection failed". */
class ConnectionClosed extends Error {
  constructor() {
    super('closed');
  }
}

/**
 * One SSH (TCP) connection. It leaves its pool when it closes for any reason — dropped by
 * the server or the network, a missed keep-alive, idle — and is never reused after.
 */
export class SshLink {
  readonly client = new Client();
  /** Runs holding a session on this connection (a cancel's session is not counted). */
  active = 0;
  /** Warm spares (open or opening) waiting for the next runs; each holds a session slot too. */
  readonly spares = new Set<Spare>();
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
    const fail = () => rejectReady(describeSshFailure(failure ?? new ConnectionClosed(), this.context(hostKeyRejected)));
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
        this.client.exec(command, (error, channel) => {
          if (error) return reject(error);
          recordExit(channel);
          resolve(channel);
        });
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
    // The spares' shells read end-of-file first (nothing ran in them), then the connection ends.
    void this.closeSpares();
    if (!this.closed) this.client.end();
  }

  /**
   * Closes the warm spares, sending each end-of-file: nothing was ever sent to them (one
   * still opening is closed when it opens). Resolves once the server confirmed, or soon after.
   */
  closeSpares(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const spare of [...this.spares]) {
      this.spares.delete(spare);
      clearTimeout(spare.timer);
      if (spare.session) closing.push(spare.session.discard());
    }
    return Promise.all(closing).then(() => undefined);
  }

  /** Drops the connection at once (its sessions close with it). */
  destroy(): void {
    clearTimeout(this.idleTimer);
    void this.closeSpares();
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
  private spareFailureLogged = false;

  constructor(
    readonly endpoint: SshEndpoint,
    private readonly log: PipelineLog,
  ) {}

  /** Open (or opening) connections: for tests and metrics. */
  get size(): number {
    return this.links.size;
  }

  /**
   * A connection with a free session slot for one run, connected, and the connection's warm
   * spare if it had one (the run then uses the spare's slot); `release` it when the run ends.
   */
  async acquire(signal: AbortSignal): Promise<Lease> {
    for (;;) {
      if (signal.aborted) throw cancelledWhileWaiting();
      if (this.closing) throw new RungateError('SERVICE_UNAVAILABLE', `connection ${this.endpoint.name}: the executor is closing its SSH connections; nothing was executed`);
      const lease = this.take();
      if (lease) {
        try {
          await this.whileNotAborted(lease.link.ready, signal);
        } catch (error) {
          // A spare taken on the way is closed unused (a connection with one is ready, so this is an abort).
          if (lease.spare) void lease.spare.opened.then((session) => session?.discard());
          this.release(lease.link);
          throw error;
        }
        return lease;
      }
      await this.slotFreed(signal);
    }
  }

  /** Warm spares open (or opening) on all connections: for tests and metrics. */
  get spares(): number {
    let count = 0;
    for (const link of this.links) count += link.spares.size;
    return count;
  }

  /**
   * Opens warm spares on `link` in the background, up to the connection's `warmSessions`,
   * while it has free session slots and no run waits for one; never blocks a run (a run
   * that comes while a spare opens takes it). A spare unused for `maxAgeMs` is closed, and
   * not replaced until the connection is used again. A spare that cannot be opened is
   * logged once per pool and leaves none.
   */
  replenish(link: SshLink, maxAgeMs: number): void {
    const { warmSessions, sessionsPerConnection } = this.endpoint;
    while (
      !this.closing &&
      !link.closed &&
      this.links.has(link) &&
      this.waiters.length === 0 &&
      link.spares.size < warmSessions &&
      link.active + link.spares.size < sessionsPerConnection
    ) {
      this.openSpare(link, maxAgeMs);
    }
  }

  private openSpare(link: SshLink, maxAgeMs: number): void {
    const spare: Spare = { opened: Promise.resolve(undefined), taken: false };
    const dropped = () => this.dropSpare(link, spare);
    spare.opened = outsideAnyCall(() => link.exec(this.endpoint.command)).then(
      (channel) => {
        const session = new ShellSession(link, channel, true, dropped);
        spare.session = session;
        if (spare.taken) {
          // A run took it while it opened: the run owns its slot.
          session.releaseSlot = () => undefined;
          return session;
        }
        if (!link.spares.has(spare)) {
          // Closed (pool closing, connection ending) while it opened.
          void session.discard();
          return undefined;
        }
        // Dead (killed on the host, the connection gone): it leaves the pool and frees its slot.
        const gone = () => {
          if (!spare.taken) void session.discard();
        };
        channel.once('exit', gone);
        channel.once('end', gone);
        channel.once('close', gone);
        spare.timer = setTimeout(() => {
          if (!spare.taken) void session.discard();
        }, maxAgeMs);
        spare.timer.unref();
        return session;
      },
      (error: unknown) => {
        if (!this.spareFailureLogged && !link.closed && !this.closing) {
          this.spareFailureLogged = true;
          this.log.warn(`connection ${this.endpoint.name}: could not open a warm SSH session ahead of the next run (${error instanceof Error ? error.message : 'refused'}); runs open their own`);
        }
        if (!spare.taken) this.dropSpare(link, spare);
        return undefined;
      },
    );
    link.spares.add(spare);
  }

  /** A spare that was not taken leaves its connection and gives its slot back. */
  private dropSpare(link: SshLink, spare: Spare): void {
    clearTimeout(spare.timer);
    if (link.spares.delete(spare)) this.wakeOne();
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
   * pool replaced after its configuration or secrets changed. Warm spares are closed at once
   * (end-of-file: nothing ran in them); resolves once they are.
   */
  close(): Promise<void> {
    this.closing = true;
    const spares: Promise<void>[] = [];
    for (const link of this.links) {
      spares.push(link.closeSpares());
      if (link.active === 0) link.end();
    }
    for (const waiter of this.waiters.splice(0)) waiter.wake();
    return Promise.all(spares).then(() => undefined);
  }

  /**
   * A connection for one more run: one with a warm spare first (the run takes the spare and
   * its slot), else the least busy one with a free slot (spares hold slots too), else a new
   * connection while under `maxConnections`.
   */
  private take(): Lease | undefined {
    for (const link of this.links) {
      if (link.closed) continue;
      for (const spare of link.spares) {
        if (spare.session?.dead) {
          // Its slot comes back once the server confirmed the close.
          void spare.session.discard();
          continue;
        }
        link.spares.delete(spare);
        clearTimeout(spare.timer);
        spare.taken = true;
        // The slot is the run's now: the session releases nothing of its own.
        if (spare.session) spare.session.releaseSlot = () => undefined;
        link.active++;
        link.markBusy();
        return { link, spare };
      }
    }
    let best: SshLink | undefined;
    for (const link of this.links) {
      if (link.closed || link.active + link.spares.size >= this.endpoint.sessionsPerConnection) continue;
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
    if (!best) return undefined;
    best.active++;
    best.markBusy();
    return { link: best };
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
