import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { readEnvironment } from './environment';
import { RungateConfig } from './schema';

/** A config problem that names the file, the key and what is wrong. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: { key: string; message: string }[],
  ) {
    super(`invalid configuration in ${file}:\n${problems.map((p) => `  ${p.key}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function configPath(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): string {
  const flag = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (flag >= 0) {
    const arg = argv[flag] as string;
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[flag + 1];
    if (value) return resolve(value);
  }
  return resolve(readEnvironment(env).RUNGATE_CONFIG ?? 'rungate.yaml');
}

function keyOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.reduce<string>(
    (text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)),
    '',
  );
}

export function issuesToProblems(issues: readonly z.core.$ZodIssue[]): { key: string; message: string }[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return { key: keyOf(issue.path), message: `unknown key(s): ${issue.keys.join(', ')}` };
    }
    return { key: keyOf(issue.path), message: issue.message };
  });
}

export function parseConfig(text: string, file = 'rungate.yaml'): RungateConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ key: e.linePos ? `line ${e.linePos[0].line}` : '(yaml)', message: e.message.split('\n')[0] ?? e.message })),
    );
  }
  const result = RungateConfig.safeParse(doc.toJS() ?? {});
  if (!result.success) throw new ConfigError(file, issuesToProblems(result.error.issues));
  return result.data;
}

export function loadConfig(file: string = configPath()): RungateConfig {
  return loadConfigFile(file).config;
}

/**
 * The configuration and the exact bytes it was parsed from, read once: what a reload's
 * audit record digests is what was validated, even if the file changes again meanwhile.
 */
export function loadConfigFile(file: string): { config: RungateConfig; content: Buffer } {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found (set RUNGATE_CONFIG or --config)' : String(error);
    throw new ConfigError(file, [{ key: '(file)', message: reason }]);
  }
  return { config: parseConfig(content.toString('utf8'), file), content };
}
