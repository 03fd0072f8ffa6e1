import { RungateError } from '@rungate/contracts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** POSIX single quotes keep every byte literal; a quote itself is closed, escaped and reopened. */
function singleQuoted(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The lines that export `asenv` parameters before a script read by `sh -s` on a target
 * (SSH, a pod) whose environment we cannot set directly. Each value is single-quoted, so it
 * arrives byte for byte and is never expanded; a name that is not a shell identifier or a
 * value holding NUL (no environment can carry it) is refused rather than mangled.
 */
export function shellPrelude(env: Record<string, string>): string {
  let prelude = '';
  for (const [name, value] of Object.entries(env)) {
    if (!NAME.test(name)) throw new RungateError('INVALID_PARAMS', `environment variable name ${JSON.stringify(name)} is not a shell identifier`);
    if (value.includes('\0')) throw new RungateError('INVALID_PARAMS', `the value for ${name} contains a NUL byte, which no environment can carry`);
    prelude += `export ${name}=${singleQuoted(value)}\n`;
  }
  return prelude;
}
