import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RungateError, Subjects, type CatalogContentReply, type RepositoryCatalog } from '@rungate/contracts';
import { subjectPrefix, type AuditSink, type Bus } from '@rungate/messaging';
import { isRunbookPath } from '@rungate/runbooks';
import { AUDIT_SINK, BUS, CONFIG, NATS_CONNECTION, Readiness, type ConfigHolder } from '@rungate/runtime';
import type { NatsConnection } from 'nats';
import { buildCatalog } from './catalog-builder';
import { GitMirror, sha256 } from './git-mirror';
import { Leadership } from './leadership';

interface RepositoryState {
  mirror: GitMirror;
  catalog?: RepositoryCatalog;
  lastError?: string;
  /** Syncs of one repository run one after another. */
  queue: Promise<unknown>;
  timer?: NodeJS.Timeout;
}

const LOCK_TTL_MS = 15_000;

@Injectable()
export class CatalogService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(CatalogService.name);
  private readonly repositories = new Map<string, RepositoryState>();
  private readonly leadership: Leadership;
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(NATS_CONNECTION) nc: NatsConnection,
    readiness: Readiness,
  ) {
    this.leadership = new Leadership(nc.jetstream(), LOCK_TTL_MS, subjectPrefix());
    readiness.register('catalogs', () => [...this.repositories.values()].every((r) => r.catalog !== undefined));
  }

  onApplicationBootstrap(): void {
    const { repositories, gitSync } = this.config.current;
    for (const repository of repositories) {
      this.repositories.set(repository.name, { mirror: new GitMirror(repository, gitSync.cacheDir), queue: Promise.resolve() });
      this.schedule(repository.name, 0);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const [name, state] of this.repositories) {
      clearTimeout(state.timer);
      await this.leadership.release(name);
    }
  }

  private schedule(name: string, delayMs: number): void {
    const state = this.repositories.get(name);
    if (!state || this.stopped) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      void this.sync(name)
        .catch(() => undefined)
        .finally(() => this.schedule(name, state.mirror.config.pollInterval));
    }, delayMs);
  }

  /** Brings one repository to its remote head; publishes the change if this replica leads. */
  sync(name: string, options: { force?: boolean } = {}): Promise<void> {
    const state = this.repositories.get(name);
    if (!state) return Promise.reject(new RungateError('CATALOG_UNAVAILABLE', `unknown repository ${name}`));
    const run = state.queue.then(() => this.syncNow(name, state, options.force ?? false));
    state.queue = run.catch(() => undefined);
    return run;
  }

  private async syncNow(name: string, state: RepositoryState, force: boolean): Promise<void> {
    const leader = await this.leadership.renew(name);
    try {
      if (!force && state.catalog) {
        const head = await state.mirror.remoteHead();
        if (head === state.catalog.commit) {
          this.markFresh(state);
          return;
        }
      }
      const commit = await state.mirror.fetch();
      if (state.catalog?.commit === commit) {
        this.markFresh(state);
        return;
      }
      const previous = state.catalog;
      const catalog = await buildCatalog(state.mirror, commit);
      state.catalog = catalog;
      state.lastError = undefined;
      this.log.log(`${name} at ${commit.slice(0, 12)}: ${catalog.runbooks.length} runbooks, ${catalog.rejected.length} findings`);
      for (const finding of catalog.rejected) this.log.warn(`${name}: ${finding.path}:${finding.line}:${finding.column}: ${finding.message}`);
      if (leader) await this.announce(catalog, previous?.commit);
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? 'sync failed';
      if (state.lastError !== message) this.log.warn(`${name}: cannot sync (${message}); serving ${state.catalog ? `commit ${state.catalog.commit.slice(0, 12)}, stale` : 'nothing yet'}`);
      state.lastError = message;
      if (state.catalog) state.catalog = { ...state.catalog, stale: true };
      throw error;
    }
  }

  private markFresh(state: RepositoryState): void {
    state.lastError = undefined;
    if (state.catalog?.stale) state.catalog = { ...state.catalog, stale: false };
  }

  private async announce(catalog: RepositoryCatalog, previousCommit: string | undefined): Promise<void> {
    this.bus.emit(Subjects.catalogUpdated, { repository: catalog.repository, commit: catalog.commit, previousCommit });
    const actor = { user: 'system:git-sync', groups: [] };
    await this.audit
      .publish({
        type: 'audit.catalog.updated',
        source: 'git-sync',
        actor,
        details: { repository: catalog.repository, commit: catalog.commit, previousCommit, runbooks: catalog.runbooks.length, rejected: catalog.rejected.length },
      })
      .catch((error: Error) => this.log.error(`could not audit the catalog update: ${error.message}`));
    if (catalog.rejected.length > 0) {
      await this.audit
        .publish({
          type: 'audit.catalog.rejected',
          source: 'git-sync',
          actor,
          details: { repository: catalog.repository, commit: catalog.commit, findings: catalog.rejected },
        })
        .catch((error: Error) => this.log.error(`could not audit rejected runbooks: ${error.message}`));
    }
  }

  /** Catalogs for catalog.get; with a commit, waits until that commit is synced here. */
  async catalogs(repository?: string, commit?: string): Promise<RepositoryCatalog[]> {
    if (repository !== undefined && !this.repositories.has(repository)) throw new RungateError('CATALOG_UNAVAILABLE', `unknown repository ${repository}`);
    if (repository && commit && this.repositories.get(repository)?.catalog?.commit !== commit) {
      await this.sync(repository).catch(() => undefined);
    }
    return [...this.repositories.entries()]
      .filter(([name]) => repository === undefined || name === repository)
      .flatMap(([, state]) => (state.catalog ? [state.catalog] : []));
  }

  /** File content at an exact commit: what was authorized is what runs. */
  async content(repository: string, commit: string, path: string): Promise<CatalogContentReply> {
    const state = this.repositories.get(repository);
    if (!state) throw new RungateError('CATALOG_UNAVAILABLE', `unknown repository ${repository}`);
    if (!isRunbookPath(path)) throw new RungateError('BAD_REQUEST', `${path} is not a runbook`);
    if (!(await state.mirror.hasCommit(commit))) {
      await this.sync(repository).catch(() => undefined);
      if (!(await state.mirror.hasCommit(commit))) throw new RungateError('CATALOG_UNAVAILABLE', `commit ${commit.slice(0, 12)} is not on ${state.mirror.config.branch}`);
    }
    const content = await state.mirror.readFile(commit, path);
    if (!content) throw new RungateError('CATALOG_UNAVAILABLE', `${path} does not exist at ${commit.slice(0, 12)}`);
    return { content: content.toString('utf8'), sha256: sha256(content) };
  }

  status(): Record<string, { commit?: string; stale: boolean; lastError?: string; leader: boolean }> {
    return Object.fromEntries(
      [...this.repositories.entries()].map(([name, s]) => [
        name,
        { commit: s.catalog?.commit, stale: s.catalog?.stale ?? true, lastError: s.lastError, leader: this.leadership.isLeader(name) },
      ]),
    );
  }
}
