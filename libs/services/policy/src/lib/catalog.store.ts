import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CatalogContentReply, CatalogGetReply, RungateError, type CatalogGetRequest, Subjects, type RepositoryCatalog, type RunbookEntry, InternalError } from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import { parseRunbook, type ParsedRunbook } from '@rungate/runbooks';
import { BUS, CONFIG, Readiness, type ConfigHolder } from '@rungate/runtime';

const CONTENT_CACHE_LIMIT = 2048;
/** Reads of a paged catalog restarted because git-sync moved to a newer commit meanwhile. */
const MAX_PAGED_READS = 5;

/**
 * Policy's view of the runbook catalogs published by git-sync. Tools resolve to an entry
 * pinned to a commit; the body is then fetched at exactly that commit and parsed here, so
 * what is authorized is what was reviewed.
 */
@Injectable()
export class CatalogStore implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(CatalogStore.name);
  private readonly catalogs = new Map<string, RepositoryCatalog>();
  private byTool = new Map<string, RunbookEntry>();
  private readonly parsed = new Map<string, ParsedRunbook>();
  private loaded = false;
  private loading = false;
  private stopped = false;

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: ConfigHolder,
    readiness: Readiness,
  ) {
    readiness.register('catalog', () => this.loaded);
    // A repository added to rungate.yaml is asked for until git-sync has it.
    config.onChange(() => void this.loadUntilAvailable());
  }

  onApplicationBootstrap(): void {
    void this.loadUntilAvailable();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  /**
   * Reads the catalogs until every configured repository has one. Policy serves as soon as
   * git-sync answers: a repository that cannot be synced (unreachable, bad credentials) only
   * leaves its own runbooks out — they cannot be listed or run — while it keeps being asked for.
   */
  private async loadUntilAvailable(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    try {
      await this.loadLoop();
    } finally {
      this.loading = false;
    }
  }

  private async loadLoop(): Promise<void> {
    let delay = 200;
    let reported = '';
    while (!this.stopped && (!this.loaded || this.missing.length > 0)) {
      try {
        await this.refresh();
        const missing = this.missing.join(', ');
        if (missing && missing !== reported) this.log.warn(`no catalog yet for ${missing}; their runbooks are not served until git-sync has them`);
        reported = missing;
        if (!missing) return;
      } catch (error) {
        this.log.warn(`catalog not available yet (${(error as Error).message}); retrying`);
      }
      // Unref'd: a policy shut down while git-sync never answered exits now, not after the pause.
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      delay = Math.min(delay * 2, 5000);
    }
  }

  /** Configured repositories git-sync has no catalog for yet. */
  get missing(): string[] {
    return this.config.current.repositories.filter((r) => !this.catalogs.has(r.name)).map((r) => r.name);
  }

  async refresh(repository?: string, commit?: string): Promise<void> {
    const request = repository ? { repository, ...(commit ? { commit } : {}) } : {};
    const reply = await this.fetch(request);
    for (const page of reply.catalogs) this.catalogs.set(page.repository, await this.complete(page));
    // A repository removed from rungate.yaml takes its runbooks with it.
    const configured = new Set(this.config.current.repositories.map((r) => r.name));
    for (const name of [...this.catalogs.keys()]) if (!configured.has(name)) this.catalogs.delete(name);
    const index = new Map<string, RunbookEntry>();
    for (const catalog of this.catalogs.values()) {
      for (const entry of catalog.runbooks) index.set(entry.tool, entry);
    }
    this.byTool = index;
    this.loaded = true;
  }

  private fetch(request: CatalogGetRequest): Promise<CatalogGetReply> {
    return this.bus.request(Subjects.catalogGet, request, CatalogGetReply, { timeoutMs: 30_000 });
  }

  /**
   * Follows a paged catalog to its end. Pages must all come from one commit: should git-sync
   * move to a newer commit meanwhile, the repository is read again from its start.
   */
  private async complete(first: RepositoryCatalog): Promise<RepositoryCatalog> {
    const { repository } = first;
    let catalog = first;
    for (let attempt = 0; attempt < MAX_PAGED_READS; attempt++) {
      const runbooks = [...catalog.runbooks];
      let next = catalog.nextOffset;
      let moved = false;
      while (next !== undefined && !moved) {
        const page = (await this.fetch({ repository, commit: catalog.commit, offset: next })).catalogs.find((c) => c.repository === repository);
        if (!page) throw new InternalError(`git-sync left ${repository} out of its page at ${next}`);
        moved = page.commit !== catalog.commit;
        runbooks.push(...page.runbooks);
        next = page.nextOffset;
      }
      if (!moved) {
        const { nextOffset: _done, ...header } = catalog;
        return { ...header, runbooks };
      }
      const fresh = (await this.fetch({ repository })).catalogs.find((c) => c.repository === repository);
      if (!fresh) throw new InternalError(`git-sync no longer answers for ${repository}`);
      catalog = fresh;
    }
    throw new InternalError(`the catalog of ${repository} kept changing while it was read`);
  }

  /** Each synced repository at its commit, with how many of its runbooks lint refused. */
  repositories(): { repository: string; commit: string; syncedAt: string; stale: boolean; lintRefused: number }[] {
    return [...this.catalogs.values()].map((c) => ({ repository: c.repository, commit: c.commit, syncedAt: c.syncedAt, stale: c.stale, lintRefused: c.rejected.length }));
  }

  entries(): RunbookEntry[] {
    return [...this.byTool.values()];
  }

  commitOf(repository: string): string {
    const catalog = this.catalogs.get(repository);
    if (!catalog) throw new RungateError('CATALOG_UNAVAILABLE', `repository ${repository} is not synced`);
    return catalog.commit;
  }

  find(tool: string): RunbookEntry {
    if (!this.loaded) throw new RungateError('CATALOG_UNAVAILABLE', 'the runbook catalog is not loaded yet; try again shortly');
    const entry = this.byTool.get(tool);
    if (!entry) throw new RungateError('UNKNOWN_TOOL', `unknown tool ${tool}`);
    return entry;
  }

  /** The runbook at the catalog's commit, checked against the catalog's hash. */
  async load(entry: RunbookEntry): Promise<{ runbook: ParsedRunbook; commit: string }> {
    const commit = this.commitOf(entry.repository);
    const key = `${entry.repository}@${commit}:${entry.path}`;
    const cached = this.parsed.get(key);
    if (cached) return { runbook: cached, commit };
    const content = await this.bus.request(
      Subjects.catalogContent,
      { repository: entry.repository, commit, path: entry.path },
      CatalogContentReply,
      { timeoutMs: 5000 },
    );
    const result = parseRunbook(entry.path, content.content);
    if (!result.ok || result.runbook.sha256 !== entry.sha256) {
      throw new RungateError('CATALOG_UNAVAILABLE', `runbook ${entry.path} at ${commit.slice(0, 12)} does not match the catalog; refusing to run it`);
    }
    if (this.parsed.size >= CONTENT_CACHE_LIMIT) this.parsed.delete(this.parsed.keys().next().value as string);
    this.parsed.set(key, result.runbook);
    return { runbook: result.runbook, commit };
  }
}
