import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { formatFinding, lintRepository } from '@rungate/runbooks';
import { option, positional } from './args';

/**
 * `rungate lint [DIR] [--repository NAME] [--path SUB]`: parses a runbook repository the way
 * git-sync does. Exit 0 clean, 1 findings, 2 usage.
 */
export function lintCommand(args: string[]): number {
  const [dir = '.', extra] = positional(args);
  if (extra !== undefined || args.includes('--help')) {
    process.stderr.write('usage: rungate lint [DIR] [--repository NAME] [--path SUB-FOLDER] [--quiet]\n');
    return 2;
  }
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    process.stderr.write(`rungate lint: ${root} is not a folder\n`);
    return 2;
  }
  const repository = option(args, '--repository') ?? basename(root).toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const report = lintRepository(root, { repository, subPath: option(args, '--path') });
  for (const finding of report.findings) process.stdout.write(`${formatFinding(finding)}\n`);
  if (!args.includes('--quiet')) {
    process.stdout.write(`\n${report.tools.length} tool(s) would be exposed:\n`);
    for (const tool of report.tools) {
      process.stdout.write(`  ${tool.name}(${tool.parameters.join(', ')})${tool.description ? ` — ${tool.description}` : ''}\n`);
    }
  }
  return report.findings.length > 0 ? 1 : 0;
}
