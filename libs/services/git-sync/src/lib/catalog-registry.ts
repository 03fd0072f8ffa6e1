import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { resolveSecret, type RepositoryConfig, type RungateConfig } from '@rungate/config';
import { RungateError, Subjects, type CatalogContentReply, type RepositoryCatalog } from '@rungate/contracts';
import { RepositorySyncer, SyncCoordination, catalogPage, type CatalogPublication, type RepositoryStatus } from '@rungate/git-catalog';
import { subjectPrefix, type AuditSink, type Bus } from '@rungate/messaging';
import { AUDIT_SINK, BUS, CONFIG, NATS_CONNECTION, Readiness, type ConfigHolder } from '@rungate/runtime';
import type { NatsConnection } from 'nats';
import { catalogAuditEvents } from './catalog-audit';

/** Room for the reply envelope around the catalogs when checking the bus's message limit. */
const REPLY_ENVELOPE_BYTES = 1024;
/** NATS' default max_payload, for the in-process transport. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Pages stay well under max_payload: headers and the reply envelope travel with them. */
const PAGE_SHARE = 0.75;

interface Running {
  config: RepositoryConfig;
  syncer: RepositorySyncer;
}

/**
 * The syncers of every configured repository in this replica, kept in step with rungate.yaml
 * (hot reload adds, removes and restarts them), and what they publish: a catalog.updated
 * event and audit events for each new commit.
 */
@Injectable()
export class CatalogRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('GitSync');
  private readonly syncers = new Map<string, Running>();
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly secretsDir = mkdtempSync(join(tmpdir(), 'rungate-git-'));
  private readonly readinessChecks = new Set<string>();
  /** Repositories that cannot be synced as configured (e.g. a missing secret), and why. */
  private readonly unusable = new Map<string, string>();
  private coordination?: SyncCoordination;
  private changes: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Requests can arrive before the first syncers exist (transports start with the app). */
  private markStarted!: () => void;
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    // Absent in a single-process deployment without NATS: this replica then syncs everything itself.
    @Optional() @Inject(NATS_CONNECTION) private readonly nc: NatsConnection | undefined,
    private readonly readiness: Readiness,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.nc) this.coordination = await SyncCoordination.open(this.nc.jetstream(), { keyPrefix: subjectPrefix() || undefined });
    this.config.onChange((next, previous) => {
      if (next.gitSync.cacheDir !== previous.gitSync.cacheDir) this.log.warn('gitSync.cacheDir changes take effect at the next restart');
      void this.apply(next);
    });
    // Syncing starts in the background: a slow first clone must not hold up the service's start.
    await this.apply(this.config.current);
    this.markStarted();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.changes;
    await Promise.all([...this.syncers.values()].map((r) => r.syncer.stop()));
    this.syncers.clear();
    rmSync(this.secretsDir, { recursive: true, force: true });
  }

  /** Starts, stops and restarts syncers to match the configured repositories. */
  private apply(config: RungateConfig): Promise<void> {
    this.changes = this.changes.then(async () => {
      if (this.stopped) return;
      const wanted = new Map(config.repositories.map((r) => [r.name, r]));
      for (const [name, running] of this.syncers) {
        const next = wanted.get(name);
        if (next && sameSync(next, running.config)) {
          running.config = next;
          continue;
        }
        this.syncers.delete(name);
        await running.syncer.stop();
        this.log.log(`${name}: ${next ? 'configuration changed; restarting its syncer' : 'removed from the configuration; stopped syncing'}`);
      }
      this.unusable.clear();
      for (const repository of config.repositories) {
        if (this.syncers.has(repository.name)) continue;
        this.registerReadiness(repository.name);
        try {
          const syncer = this.createSyncer(repository, config.gitSync.cacheDir);
          this.syncers.set(repository.name, { config: repository, syncer });
          void syncer.start();
        } catch (error) {
          this.unusable.set(repository.name, (error as Error).message);
          this.log.error(`${repository.name}: cannot sync this repository: ${(error as Error).message}`);
        }
      }
    });
    return this.changes;
  }

  private createSyncer(repository: RepositoryConfig, cacheDir: string): RepositorySyncer {
    return new RepositorySyncer({
      repository,
      cacheDir: resolve(cacheDir),
      secretsDir: this.secretsDir,
      resolveSecret: (ref) => resolveSecret(ref),
      coordination: this.coordination,
      owner: this.owner,
      log: this.log,
      onPublish: (publication) => this.announce(publication),
    });
  }

  /**
   * /readyz names each repository twice: `catalog:<name>` (a catalog is being served) and
   * `remote:<name>` (the remote answered the last check; false while serving a stale commit).
   */
  private registerReadiness(name: string): void {
    if (this.readinessChecks.has(name)) return;
    this.readinessChecks.add(name);
    const status = () => this.syncers.get(name)?.syncer.status();
    const configured = () => this.config.current.repositories.some((r) => r.name === name);
    this.readiness.register(`catalog:${name}`, () => !configured() || status()?.commit !== undefined);
    this.readiness.register(`remote:${name}`, () => !configured() || status()?.stale === false);
  }

  /** Audits the new commit (waiting for JetStream's ack), then tells every service. */
  private async announce(publication: CatalogPublication): Promise<void> {
    const { repository, commit } = publication.catalog;
    for (const event of catalogAuditEvents(publication)) {
      try {
        await this.audit.publish(event);
      } catch (error) {
        this.log.error(`${repository}: could not audit ${event.type} for ${commit.slice(0, 12)}: ${(error as Error).message}`);
        break;
      }
    }
    this.bus.emit(Subjects.catalogUpdated, { repository, commit, ...(publication.previousCommit ? { previousCommit: publication.previousCommit } : {}) });
  }

  private syncerOf(repository: string): RepositorySyncer {
    const running = this.syncers.get(repository);
    if (running) return running.syncer;
    const reason = this.unusable.get(repository);
    throw new RungateError('CATALOG_UNAVAILABLE', reason ? `repository ${repository} cannot be synced: ${reason}` : `repository ${repository} is not configured`);
  }

  /**
   * Every repository's catalog, or one, as a page that fits one NATS message: a catalog cut
   * short carries `nextOffset`, and the caller asks again for that repository and commit
   * from there. A repository without a catalog yet (first clone still running or failed) is
   * left out of "all" and answers CATALOG_UNAVAILABLE when asked by name.
   */
  async catalogs(repository?: string, commit?: string, offset = 0): Promise<RepositoryCatalog[]> {
    await this.started;
    if (offset > 0 && repository === undefined) throw new RungateError('BAD_REQUEST', 'offset pages one repository: name it');
    const targets = repository === undefined ? [...this.syncers.keys()] : [repository];
    const results = await Promise.all(
      targets.map(async (name) => {
        const served = await this.syncerOf(name).catalog(repository === undefined ? undefined : commit);
        if (!served && repository !== undefined) {
          const reason = this.syncers.get(name)?.syncer.status().lastError;
          throw new RungateError('CATALOG_UNAVAILABLE', `repository ${name} has no catalog yet${reason ? ` (${reason})` : ''}; try again shortly`);
        }
        return served;
      }),
    );
    const served = results.flatMap((r) => (r ? [r.catalog] : []));
    const maxPayload = this.nc?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    return catalogPage(served, offset, Math.floor(maxPayload * PAGE_SHARE) - REPLY_ENVELOPE_BYTES);
  }

  async content(repository: string, commit: string, path: string): Promise<CatalogContentReply> {
    await this.started;
    return this.syncerOf(repository).content(commit, path);
  }

  /** catalog.updated from the active replica: standbys fetch the commit. */
  async follow(repository: string, commit: string): Promise<void> {
    await this.started;
    await this.syncers.get(repository)?.syncer.follow(commit);
  }

  /** A verified webhook (here or on another replica): the active syncer checks the remote now. */
  async requestSync(repository: string): Promise<void> {
    await this.started;
    await this.syncers.get(repository)?.syncer.requestSync();
  }

  status(): RepositoryStatus[] {
    return [...this.syncers.values()].map((r) => r.syncer.status());
  }
}

/** Whether two configurations sync the same way (webhook secrets are read per request). */
function sameSync(a: RepositoryConfig, b: RepositoryConfig): boolean {
  const { webhookSecret: _a, ...left } = a;
  const { webhookSecret: _b, ...right } = b;
  return JSON.stringify(left) === JSON.stringify(right);
}
