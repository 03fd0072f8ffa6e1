import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ConfigError, loadConfig } from '@rungate/config';
import { formatLintedGuardrails, lintRepositoryGuardrails, type GuardrailLint } from '@rungate/guardrails';
import { formatFinding, lintRepository } from '@rungate/runbooks';
import { option, positional } from './args';

/**
 * `rungate lint [DIR] [--repository NAME] [--path SUB] [--config FILE]`: parses a runbook
 * repository the way git-sync does; with a configuration, also the guardrails that apply to
 * each runbook and warnings for those it can never pass. Exit 0 clean (warnings included), 1
 * findings, 2 usage.
 */
export async function lintCommand(args: string[]): Promise<number> {
  const [dir = '.', extra] = positional(args);
  if (extra !== undefined || args.includes('--help')) {
    process.stderr.write('usage: rungate lint [DIR] [--repository NAME] [--path SUB-FOLDER] [--config FILE] [--quiet]\n');
    return 2;
  }
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    process.stderr.write(`rungate lint: ${root} is not a folder\n`);
    return 2;
  }
  const repository = option(args, '--repository') ?? basename(root).toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const report = lintRepository(root, { repository, subPath: option(args, '--path') });
  const configFile = option(args, '--config');
  let guardrails: GuardrailLint | undefined;
  if (configFile) {
    try {
      guardrails = await lintRepositoryGuardrails(loadConfig(resolve(configFile)), repository, report.tools.map((t) => t.runbook));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
  }
  for (const finding of [...report.findings, ...(guardrails?.warnings ?? [])]) process.stdout.write(`${formatFinding(finding)}\n`);
  if (!args.includes('--quiet')) {
    process.stdout.write(`\n${report.tools.length} tool(s) would be exposed:\n`);
    for (const tool of report.tools) {
      process.stdout.write(`  ${tool.name}(${tool.parameters.join(', ')})${tool.description ? ` — ${tool.description}` : ''}\n`);
      const applying = guardrails?.guardrails.get(tool.path) ?? [];
      if (applying.length > 0) process.stdout.write(`      guardrails: ${formatLintedGuardrails(applying)}\n`);
    }
  }
  return report.findings.length > 0 ? 1 : 0;
}
