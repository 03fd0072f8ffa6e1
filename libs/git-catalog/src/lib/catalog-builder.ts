import { createHash } from 'node:crypto';
import type { RepositoryCatalog, RunbookEntry, RunbookFinding } from '@rungate/contracts';
import { MAX_RUNBOOK_BYTES, isRunbookPath, parseRunbook, toolName } from '@rungate/runbooks';
import type { GitObject } from './blob-reader';
import type { TreeEntry } from './git-mirror';
import { catalogPathOf } from './paths';

/** What the builder needs from a mirror: the files at a commit and their contents. */
export interface TreeSource {
  listFiles(commit: string, folder?: string): Promise<TreeEntry[]>;
  read(name: string): Promise<GitObject | undefined>;
}

/** A runbook file withheld from the catalog, with every reason. */
export interface RejectedRunbook {
  path: string;
  /** sha256 of the file's bytes, when it could be read. */
  sha256?: string;
  findings: RunbookFinding[];
}

export interface CatalogBuild {
  catalog: RepositoryCatalog;
  rejected: RejectedRunbook[];
}

type Outcome = { ok: true; entry: RunbookEntry } | { ok: false; rejected: RejectedRunbook };

// ignoreBOM keeps a byte-order mark in the text, so the text's sha256 is the file's.
export const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Builds commit-pinned catalogs of one repository. Parse results are kept per (path, blob),
 * so a new commit re-reads and re-parses only the runbooks it changed.
 */
export class CatalogBuilder {
  private outcomes = new Map<string, Outcome>();

  constructor(
    private readonly repository: string,
    private readonly folder: string | undefined,
  ) {}

  async build(source: TreeSource, commit: string, syncedAt = new Date()): Promise<CatalogBuild> {
    const files = (await source.listFiles(commit, this.folder)).flatMap((file) => {
      const path = catalogPathOf(this.folder, file.path);
      return path !== undefined && isRunbookPath(path) ? [{ ...file, path }] : [];
    });
    const next = new Map<string, Outcome>();
    const outcomes = await Promise.all(
      files.map(async (file) => {
        const key = `${file.path}\0${file.oid}`;
        const outcome = this.outcomes.get(key) ?? (await this.parse(source, file));
        next.set(key, outcome);
        return outcome;
      }),
    );
    this.outcomes = next;

    const entries: RunbookEntry[] = [];
    const rejected: RejectedRunbook[] = [];
    for (const outcome of outcomes) {
      if (outcome.ok) entries.push(outcome.entry);
      else rejected.push(outcome.rejected);
    }
    const byTool = new Map<string, RunbookEntry[]>();
    for (const entry of entries) byTool.set(entry.tool, [...(byTool.get(entry.tool) ?? []), entry]);
    const runbooks: RunbookEntry[] = [];
    for (const entry of entries) {
      const clashing = (byTool.get(entry.tool) ?? []).filter((other) => other !== entry);
      if (clashing.length === 0) {
        runbooks.push(entry);
        continue;
      }
      // Neither wins: which runbook an agent's tool call runs must never depend on file order.
      rejected.push({
        path: entry.path,
        sha256: entry.sha256,
        findings: [
          {
            path: entry.path,
            line: 1,
            column: 1,
            message: `tool name ${entry.tool} is also the name of ${clashing.map((c) => c.path).join(', ')}; rename one of them`,
          },
        ],
      });
    }
    rejected.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return {
      catalog: {
        repository: this.repository,
        commit,
        syncedAt: syncedAt.toISOString(),
        runbooks,
        rejected: rejected.flatMap((r) => r.findings),
        stale: false,
      },
      rejected,
    };
  }

  private async parse(source: TreeSource, file: TreeEntry): Promise<Outcome> {
    const reject = (message: string, sha256?: string): Outcome => ({
      ok: false,
      rejected: { path: file.path, sha256, findings: [{ path: file.path, line: 1, column: 1, message }] },
    });
    if (file.size > MAX_RUNBOOK_BYTES) return reject(`runbook is larger than ${MAX_RUNBOOK_BYTES} bytes`);
    const object = await source.read(file.oid);
    if (!object || object.type !== 'blob') return reject('the file could not be read from git');
    const sha256 = createHash('sha256').update(object.content).digest('hex');
    let text: string;
    try {
      text = utf8.decode(object.content);
    } catch {
      return reject('runbook is not valid UTF-8 text', sha256);
    }
    const result = parseRunbook(file.path, text);
    if (!result.ok) return { ok: false, rejected: { path: file.path, sha256, findings: result.findings } };
    const { runbook } = result;
    return {
      ok: true,
      entry: {
        repository: this.repository,
        path: file.path,
        tool: toolName(this.repository, file.path),
        language: runbook.language,
        sha256: runbook.sha256,
        metadata: runbook.metadata,
        parameters: [...runbook.parameters],
      },
    };
  }
}
