import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { RunbookFinding } from '@rungate/contracts';
import { MAX_RUNBOOK_BYTES, isRunbookPath, parseRunbook, toolName, type ParsedRunbook } from './api';

export interface LintedTool {
  name: string;
  path: string;
  description?: string;
  parameters: string[];
  /** For checks that need the runbook itself (guardrails, with a configuration). */
  runbook: ParsedRunbook;
}

export interface LintReport {
  findings: RunbookFinding[];
  tools: LintedTool[];
}

export function formatFinding(finding: RunbookFinding): string {
  return `${finding.path}:${finding.line}:${finding.column}: ${finding.message}`;
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() && isRunbookPath(entry.name)) out.push(full);
  }
}

/** Parses every runbook in a checkout, as git-sync would; for a runbook repository's own CI. */
export function lintRepository(dir: string, options: { repository?: string; subPath?: string } = {}): LintReport {
  const root = options.subPath ? join(dir, options.subPath) : dir;
  const repository = options.repository ?? 'repo';
  const files: string[] = [];
  walk(root, files);
  const report: LintReport = { findings: [], tools: [] };
  for (const file of files.sort()) {
    const path = relative(root, file).split(sep).join('/');
    if (statSync(file).size > MAX_RUNBOOK_BYTES) {
      report.findings.push({ path, line: 1, column: 1, message: `runbook is larger than ${MAX_RUNBOOK_BYTES} bytes` });
      continue;
    }
    const result = parseRunbook(path, readFileSync(file, 'utf8'));
    if (!result.ok) report.findings.push(...result.findings);
    else {
      report.tools.push({
        name: toolName(repository, path),
        path,
        description: result.runbook.metadata.description,
        parameters: result.runbook.parameters.map((p) => `${p.name}${p.required ? '' : '?'}: ${p.type}`),
        runbook: result.runbook,
      });
    }
  }
  return report;
}
