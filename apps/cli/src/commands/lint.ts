import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { loadConfig } from '@rungate/config';
import { formatLintedGuardrails, lintRepositoryGuardrails, type GuardrailLint } from '@rungate/guardrails';
import { formatFinding, lintRepository } from '@rungate/runbooks';
import { UsageError } from '../cli/values';

export interface LintOptions {
  repository?: string;
  path?: string;
  config?: string;
  quiet?: boolean;
}

/**
 * `rungate lint [DIR]`: parses a runbook repository the way git-sync does; with `--config`,
 * also the guardrails that apply to each runbook and warnings for those it can never pass.
 * Exit 0 clean (warnings included), 1 findings, 2 usage or a bad configuration.
 */
export async function lintRunbooks(dir: string, options: LintOptions): Promise<number> {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`${root} is not a folder`);
  const repository = options.repository ?? basename(root).toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const report = lintRepository(root, { repository, subPath: options.path });
  // A ConfigError reaches the CLI's one exit-code mapping (2).
  const guardrails: GuardrailLint | undefined = options.config
    ? await lintRepositoryGuardrails(loadConfig(resolve(options.config)), repository, report.tools.map((t) => t.runbook))
    : undefined;
  for (const finding of [...report.findings, ...(guardrails?.warnings ?? [])]) process.stdout.write(`${formatFinding(finding)}\n`);
  if (!options.quiet) {
    process.stdout.write(`\n${report.tools.length} tool(s) would be exposed:\n`);
    for (const tool of report.tools) {
      process.stdout.write(`  ${tool.name}(${tool.parameters.join(', ')})${tool.description ? ` — ${tool.description}` : ''}\n`);
      const applying = guardrails?.guardrails.get(tool.path) ?? [];
      if (applying.length > 0) process.stdout.write(`      guardrails: ${formatLintedGuardrails(applying)}\n`);
    }
  }
  return report.findings.length > 0 ? 1 : 0;
}
