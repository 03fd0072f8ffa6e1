import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  CatalogContentReply,
  CatalogGetReply,
  RungateError,
  Subjects,
  type RepositoryCatalog,
  type RunbookEntry,
} from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import { parseRunbook, type ParsedRunbook } from '@rungate/runbooks';
import { BUS, CONFIG, Readiness, type ConfigHolder } from '@rungate/runtime';

const CONTENT_CACHE_LIMIT = 2048;

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
  private stopped = false;

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: ConfigHolder,
    readiness: Readiness,
  ) {
    readiness.register('catalog', () => this.loaded);
  }

  onApplicationBootstrap(): void {
    void this.loadUntilAvailable();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  private async loadUntilAvailable(): Promise<void> {
    let delay = 200;
    while (!this.stopped && !this.loaded) {
      try {
        await this.refresh();
      } catch (error) {
        this.log.warn(`catalog not available yet (${(error as Error).message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async refresh(repository?: string, commit?: string): Promise<void> {
    const request = repository ? { repository, ...(commit ? { commit } : {}) } : {};
    const reply = await this.bus.request(Subjects.catalogGet, request, CatalogGetReply, { timeoutMs: 30_000 });
    for (const catalog of reply.catalogs) this.catalogs.set(catalog.repository, catalog);
    const index = new Map<string, RunbookEntry>();
    for (const catalog of this.catalogs.values()) {
      for (const entry of catalog.runbooks) index.set(entry.tool, entry);
    }
    this.byTool = index;
    const missing = this.config.current.repositories.filter((r) => !this.catalogs.has(r.name)).map((r) => r.name);
    if (missing.length > 0) throw new Error(`no catalog yet for ${missing.join(', ')}`);
    this.loaded = true;
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
