import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { RepositoryConfig } from '@rungate/config';
import { RungateError, type CatalogContentReply, type RepositoryCatalog } from '@rungate/contracts';
import { CatalogBuilder, utf8, type RejectedRunbook } from './catalog-builder';
import { gitEnvironment, redact, type GitEnvironment } from './git-environment';
import { COMMIT_ID, GitMirror } from './git-mirror';
import { gitPathOfRunbook, normalizeFolder } from './paths';
import type { PublishedHead, SyncCoordination, SyncLock } from './sync-coordination';

export interface SyncLog {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A new commit published by the active syncer: what the service announces and audits. */
export interface CatalogPublication {
  catalog: RepositoryCatalog;
  previousCommit?: string;
  rejected: RejectedRunbook[];
}

export type SyncRole = 'active' | 'standby';

export interface RepositoryStatus {
  repository: string;
  role: SyncRole;
  commit?: string;
  stale: boolean;
  syncedAt?: string;
  runbooks: number;
  rejected: number;
  /** Why the remote could not be read, credentials removed. */
  lastError?: string;
}

export interface RepositorySyncerOptions {
  repository: RepositoryConfig;
  /** The mirror lives in `<cacheDir>/<repository name>`. */
  cacheDir: string;
  /** Private folder for SSH key material (0700). */
  secretsDir: string;
  resolveSecret: (ref: string) => string;
  /** Undefined in a single-process deployment: this syncer is then always the active one. */
  coordination?: SyncCoordination;
  /** This replica's identity in the lock. */
  owner: string;
  log: SyncLog;
  /** Called by the active syncer once per new commit, after the commit is recorded for standbys. */
  onPublish: (publication: CatalogPublication) => Promise<void>;
  /** A git command silent for this long is killed (a hung remote); default 60 s. */
  stallTimeoutMs?: number;
}

interface Installed {
  catalog: RepositoryCatalog;
  rejected: RejectedRunbook[];
  /** Size of the catalog as JSON, so a reply can be checked against the bus's message limit. */
  encodedBytes: number;
}

/** An unknown commit triggers at most one fetch per this interval (content requests are untrusted). */
const UNKNOWN_COMMIT_FETCH_INTERVAL_MS = 2000;

/**
 * Keeps one repository's catalog: the active replica polls the remote (`git ls-remote`),
 * fetches and rebuilds when the branch moved, and publishes the commit; standbys follow the
 * published commit and fetch it themselves, so every replica can answer catalog and content
 * requests. A remote that cannot be reached leaves the last good commit in service, marked stale.
 */
export class RepositorySyncer {
  readonly name: string;
  private readonly environment: GitEnvironment;
  private readonly mirror: GitMirror;
  private readonly builder: CatalogBuilder;
  private readonly folder: string | undefined;
  private readonly lock?: SyncLock;
  private installed?: Installed;
  private role: SyncRole;
  private lastRenewal = 0;
  private remoteError?: string;
  private announced?: PublishedHead;
  private publishedCommit?: string;
  /** The staleness this replica last recorded for standbys; recorded again on every poll until it matches. */
  private recordedStale?: boolean;
  private tail: Promise<unknown> = Promise.resolve();
  private queued?: Promise<void>;
  private lastUnknownCommitFetch = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private firstAttempt?: Promise<void>;

  constructor(private readonly options: RepositorySyncerOptions) {
    const { repository } = options;
    this.name = repository.name;
    this.folder = normalizeFolder(repository.path);
    this.environment = gitEnvironment(repository, { secretsDir: join(options.secretsDir, repository.name), resolveSecret: options.resolveSecret });
    this.mirror = new GitMirror({
      dir: join(options.cacheDir, repository.name),
      branch: repository.branch,
      environment: this.environment,
      stallTimeoutMs: options.stallTimeoutMs,
    });
    this.builder = new CatalogBuilder(repository.name, this.folder);
    this.lock = options.coordination?.lock(repository.name, options.owner);
    this.role = options.coordination ? 'standby' : 'active';
  }

  /** Starts syncing; resolves once the first attempt finished (successfully or not). */
  start(): Promise<void> {
    this.firstAttempt ??= (async () => {
      await this.mirror.prepare().catch((error: unknown) => this.options.log.error(`${this.name}: cannot prepare the mirror: ${this.safe(error)}`));
      await this.coordinate().catch((error: unknown) => this.options.log.warn(`${this.name}: sync lock unavailable: ${this.safe(error)}`));
      await this.reconcile();
      this.every(this.options.repository.pollInterval, () => this.reconcileIfActive());
      const { coordination } = this.options;
      if (coordination) this.every(Math.max(100, Math.floor(coordination.lockTtlMs / 3)), () => this.coordinate());
    })();
    return this.firstAttempt;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.tail.catch(() => undefined);
    await this.lock?.release().catch(() => undefined);
    this.mirror.close();
  }

  get isActive(): boolean {
    return this.role === 'active';
  }

  /** Asks for an immediate check of the remote (a webhook); only the active syncer acts on it. */
  requestSync(): Promise<void> {
    return this.reconcileIfActive();
  }

  /** A commit announced on the bus (catalog.updated): standbys fetch it. */
  follow(commit: string): Promise<void> {
    return this.role === 'standby' ? this.catchUp(commit) : Promise.resolve();
  }

  /**
   * The catalog to answer with. A standby first checks the published head, so a request that
   * follows a catalog.updated event never gets the previous commit from a replica that lags.
   * `commit` is the commit the caller was told about; it is only a hint, the published head wins.
   */
  async catalog(commit?: string): Promise<{ catalog: RepositoryCatalog; encodedBytes: number } | undefined> {
    await this.start();
    if (this.role === 'standby') await this.catchUp(commit);
    const installed = this.installed;
    if (!installed) return undefined;
    return { catalog: { ...installed.catalog, stale: this.stale }, encodedBytes: installed.encodedBytes };
  }

  /**
   * Brings a standby to the published head (read from the bus, the source of truth, because
   * events can arrive late); the hint is used only when the published head cannot be read.
   */
  private async catchUp(hint?: string): Promise<void> {
    const head = this.options.coordination ? await this.options.coordination.publishedHead(this.name).catch(() => undefined) : undefined;
    if (head && COMMIT_ID.test(head.commit)) this.announced = head;
    else if (hint && COMMIT_ID.test(hint)) this.announced = { commit: hint, stale: false, owner: '', publishedAt: new Date().toISOString() };
    else return;
    if (this.announced.commit !== this.installed?.catalog.commit) await this.reconcile();
  }

  /** A runbook's text exactly as committed at `commit`. */
  async content(commit: string, path: string): Promise<CatalogContentReply> {
    const gitPath = gitPathOfRunbook(this.folder, path);
    if (!gitPath) throw new RungateError('FORBIDDEN', `${path} is not a runbook path; only runbooks (files named *.runbook.*) are served`);
    if (!COMMIT_ID.test(commit)) throw new RungateError('BAD_REQUEST', 'commit must be a full commit id (40 or 64 hexadecimal characters)');
    await this.start();
    if (!(await this.mirror.hasCommit(commit))) {
      await this.fetchForUnknownCommit();
      if (!(await this.mirror.hasCommit(commit))) {
        throw new RungateError('CATALOG_UNAVAILABLE', `commit ${commit} is not known in repository ${this.name} (branch ${this.options.repository.branch})`);
      }
    }
    const object = await this.mirror.read(`${commit}:${gitPath}`);
    if (!object || object.type !== 'blob') throw new RungateError('UNKNOWN_TOOL', `no runbook ${path} in repository ${this.name} at commit ${commit.slice(0, 12)}`);
    let content: string;
    try {
      content = utf8.decode(object.content);
    } catch {
      throw new RungateError('CATALOG_UNAVAILABLE', `runbook ${path} at ${commit.slice(0, 12)} is not UTF-8 text`);
    }
    return { content, sha256: createHash('sha256').update(object.content).digest('hex') };
  }

  status(): RepositoryStatus {
    const catalog = this.installed?.catalog;
    return {
      repository: this.name,
      role: this.role,
      commit: catalog?.commit,
      stale: this.stale,
      syncedAt: catalog?.syncedAt,
      runbooks: catalog?.runbooks.length ?? 0,
      rejected: this.installed?.rejected.length ?? 0,
      ...(this.remoteError ? { lastError: this.remoteError } : {}),
    };
  }

  private get stale(): boolean {
    if (this.remoteError !== undefined) return true;
    return this.role === 'standby' && this.announced?.commit === this.installed?.catalog.commit && (this.announced?.stale ?? false);
  }

  private safe(error: unknown): string {
    return redact(error instanceof Error ? error.message : String(error), this.environment.secrets);
  }

  /** Runs `work` every `intervalMs`, never overlapping itself, until stop(). */
  private every(intervalMs: number, work: () => Promise<void>): void {
    const arm = () => {
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.stopped) return;
        work()
          .catch((error: unknown) => this.options.log.warn(`${this.name}: ${this.safe(error)}`))
          .finally(arm);
      }, intervalMs);
      this.timers.add(timer);
    };
    arm();
  }

  /** Runs git work one piece at a time (fetches and ref updates must not interleave). */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Coalesces requests: while one reconcile waits to run, later requests share it. Never rejects. */
  private reconcile(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.serial(async () => {
      this.queued = undefined;
      if (this.stopped) return;
      await this.reconcileNow().catch((error: unknown) => this.options.log.error(`${this.name}: sync failed: ${this.safe(error)}`));
    });
    this.queued = run;
    return run;
  }

  private reconcileIfActive(): Promise<void> {
    return this.role === 'active' ? this.reconcile() : Promise.resolve();
  }

  /** Takes, renews or watches the lock; standbys also pick up the published head here. */
  private async coordinate(): Promise<void> {
    const { coordination } = this.options;
    if (!coordination || !this.lock || this.stopped) return;
    if (this.role === 'active') {
      try {
        if (await this.lock.renew()) {
          this.lastRenewal = Date.now();
          return;
        }
        this.options.log.warn(`${this.name}: lost the sync lock to another replica; standing by`);
      } catch (error) {
        if (Date.now() - this.lastRenewal < coordination.lockTtlMs) return;
        this.lock.forget();
        this.options.log.warn(`${this.name}: could not renew the sync lock for ${coordination.lockTtlMs} ms (${this.safe(error)}); standing by`);
      }
      this.role = 'standby';
      return;
    }
    if (await this.lock.acquire()) {
      this.role = 'active';
      this.lastRenewal = Date.now();
      this.options.log.log(`${this.name}: this replica is now the active syncer`);
      void this.reconcile();
      return;
    }
    const head = await coordination.publishedHead(this.name);
    if (head && COMMIT_ID.test(head.commit)) {
      const changed = head.commit !== this.announced?.commit || head.stale !== this.announced?.stale;
      this.announced = head;
      if (changed && head.commit !== this.installed?.catalog.commit) void this.reconcile();
    }
  }

  private async reconcileNow(): Promise<void> {
    const active = this.role === 'active';
    let target = active ? undefined : this.announced?.commit;
    try {
      if (!target) {
        const head = await this.mirror.remoteHead();
        this.reachable();
        if (head === this.installed?.catalog.commit) {
          await this.publishIfNeeded();
          return;
        }
        target = head;
      }
      if (!(await this.mirror.hasCommit(target))) {
        const fetched = await this.mirror.fetch();
        // The branch may have moved on between ls-remote and fetch: an active syncer takes the newest.
        if (active) target = fetched;
      }
      // A standby is in sync once it holds the published commit, whether or not it had to fetch.
      this.reachable();
    } catch (error) {
      await this.unreachable(error);
      return;
    }
    if (!(await this.mirror.hasCommit(target))) {
      this.options.log.warn(`${this.name}: announced commit ${target.slice(0, 12)} is not on branch ${this.options.repository.branch}; keeping ${this.installed?.catalog.commit.slice(0, 12) ?? 'nothing'}`);
      return;
    }
    if (target !== this.installed?.catalog.commit) await this.install(target);
    await this.publishIfNeeded();
  }

  private async install(commit: string): Promise<void> {
    const started = Date.now();
    const build = await this.builder.build(this.mirror, commit);
    await this.mirror.pin(commit);
    this.installed = { catalog: build.catalog, rejected: build.rejected, encodedBytes: Buffer.byteLength(JSON.stringify(build.catalog)) + 64 };
    this.options.log.log(
      `${this.name}: catalog at ${commit.slice(0, 12)}: ${build.catalog.runbooks.length} runbooks, ${build.rejected.length} rejected (${Date.now() - started} ms)`,
    );
    for (const rejected of build.rejected) {
      for (const f of rejected.findings) this.options.log.warn(`${this.name}: withheld ${f.path}:${f.line}:${f.column}: ${f.message}`);
    }
  }

  /** The active syncer records a new commit for standbys, then announces it (once per commit). */
  private async publishIfNeeded(): Promise<void> {
    const installed = this.installed;
    if (this.role !== 'active' || !installed || this.publishedCommit === installed.catalog.commit) return;
    const { coordination } = this.options;
    const previous = coordination ? await coordination.publishedHead(this.name) : undefined;
    const previousCommit = previous?.commit ?? this.publishedCommit;
    if (coordination) {
      await coordination.publishHead(this.name, {
        commit: installed.catalog.commit,
        stale: false,
        owner: this.options.owner,
        publishedAt: new Date().toISOString(),
      });
      this.recordedStale = false;
    }
    this.publishedCommit = installed.catalog.commit;
    if (previousCommit === installed.catalog.commit) return;
    await this.options.onPublish({
      catalog: installed.catalog,
      rejected: installed.rejected,
      ...(previousCommit ? { previousCommit } : {}),
    });
  }

  private reachable(): void {
    if (this.remoteError === undefined) {
      // Back in sync, but the staleness recorded then did not reach the bucket: record it again.
      if (this.recordedStale === true) void this.recordStale(false);
      return;
    }
    this.remoteError = undefined;
    this.options.log.log(`${this.name}: back in sync with the remote`);
    void this.recordStale(false);
  }

  private async unreachable(error: unknown): Promise<void> {
    const message = this.safe(error);
    if (this.remoteError !== message) {
      this.options.log.warn(
        `${this.name}: cannot read the remote (${message}); serving ${this.installed ? `the last good commit ${this.installed.catalog.commit.slice(0, 12)}, marked stale` : 'nothing yet'}`,
      );
    }
    const wasStale = this.remoteError !== undefined;
    this.remoteError = message;
    if (!this.installed) {
      // After a restart with the remote away: what was fetched before is the last good commit.
      const local = await this.mirror.localHead().catch(() => undefined);
      if (local) {
        await this.install(local);
        this.options.log.warn(`${this.name}: serving the cached commit ${local.slice(0, 12)} (stale) until the remote answers`);
        // It is what was published before this restart: record it as published, so standbys see it is stale.
        const head = this.role === 'active' ? await this.options.coordination?.publishedHead(this.name).catch(() => undefined) : undefined;
        if (head?.commit === local) this.publishedCommit = local;
      }
    }
    // Not only on the first failure: a replica that could not record it then (not yet active,
    // its commit not yet published, the bucket unreachable) records it on a later poll.
    if (!wasStale || this.recordedStale !== true) await this.recordStale(true);
  }

  /** Standbys show the active syncer's staleness too. */
  private async recordStale(stale: boolean): Promise<void> {
    const { coordination } = this.options;
    const commit = this.installed?.catalog.commit;
    if (this.role !== 'active' || !coordination || !commit || this.publishedCommit !== commit) return;
    await coordination.publishHead(this.name, { commit, stale, owner: this.options.owner, publishedAt: new Date().toISOString() }).then(
      () => {
        this.recordedStale = stale;
      },
      (error: unknown) => this.options.log.warn(`${this.name}: could not record staleness: ${this.safe(error)}`),
    );
  }

  private async fetchForUnknownCommit(): Promise<void> {
    await this.serial(async () => {
      if (Date.now() - this.lastUnknownCommitFetch < UNKNOWN_COMMIT_FETCH_INTERVAL_MS) return;
      this.lastUnknownCommitFetch = Date.now();
      try {
        await this.mirror.fetch();
        this.reachable();
      } catch (error) {
        await this.unreachable(error);
      }
    });
  }
}
