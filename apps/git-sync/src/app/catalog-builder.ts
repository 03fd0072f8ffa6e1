import { MAX_RUNBOOK_BYTES, isRunbookPath, parseRunbook, toolName } from '@rungate/runbooks';
import type { RepositoryCatalog, RunbookEntry, RunbookFinding } from '@rungate/contracts';
import type { GitMirror } from './git-mirror';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The catalog of one commit. Broken runbooks do not take the catalog down: they are withheld
 * and reported with file:line:col while every good runbook of the commit is published.
 */
export async function buildCatalog(mirror: GitMirror, commit: string): Promise<RepositoryCatalog> {
  const repository = mirror.config.name;
  const paths = (await mirror.listFiles(commit)).filter(isRunbookPath);
  const files = await mirror.readFiles(commit, paths);
  const runbooks: RunbookEntry[] = [];
  const rejected: RunbookFinding[] = [];
  const tools = new Map<string, string>();
  for (const path of paths) {
    const content = files.get(path);
    if (!content) continue;
    if (content.length > MAX_RUNBOOK_BYTES) {
      rejected.push({ path, line: 1, column: 1, message: `runbook is larger than ${MAX_RUNBOOK_BYTES} bytes` });
      continue;
    }
    let text: string;
    try {
      text = utf8.decode(content);
    } catch {
      rejected.push({ path, line: 1, column: 1, message: 'runbook is not valid UTF-8' });
      continue;
    }
    const result = parseRunbook(path, text);
    if (!result.ok) {
      rejected.push(...result.findings);
      continue;
    }
    const tool = toolName(repository, path);
    const clash = tools.get(tool);
    if (clash) {
      rejected.push({ path, line: 1, column: 1, message: `tool name ${tool} is already taken by ${clash}; rename one of them` });
      continue;
    }
    tools.set(tool, path);
    const { language, metadata, parameters, sha256 } = result.runbook;
    runbooks.push({ repository, path, tool, language, sha256, metadata, parameters: [...parameters] });
  }
  return { repository, commit, syncedAt: new Date().toISOString(), runbooks, rejected, stale: false };
}
