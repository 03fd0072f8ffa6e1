import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RepositoryConfig } from '@rungate/config';

export type RemoteKind = 'https' | 'http' | 'ssh' | 'git' | 'file';

export interface Remote {
  kind: RemoteKind;
  /** What git is given: local paths become file:// URLs. */
  url: string;
}

/** Transports git may use; `ext::` and friends (which run commands) are never allowed. */
export const ALLOWED_PROTOCOLS = 'file:git:http:https:ssh';

/** Guarded variables that would change which programs git runs; never inherited from the service's environment. */
const NEVER_INHERITED = new Set(['EDITOR', 'VISUAL', 'PAGER', 'SSH_ASKPASS', 'PREFIX']);
/** Ambient git variables that operators legitimately set for TLS (a private CA). */
const INHERITED_GIT_VARIABLES = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH'];

export class GitConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitConfigurationError';
  }
}

/** Classifies a configured URL: https/http/ssh/git URLs, scp-like `user@host:path`, file:// or a local path. */
export function parseRemote(url: string, baseDir = process.cwd()): Remote {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme) {
    if (scheme === 'https' || scheme === 'http' || scheme === 'ssh' || scheme === 'git' || scheme === 'file') return { kind: scheme, url };
    throw new GitConfigurationError(`unsupported URL scheme "${scheme}://"; use https://, ssh://, git@host:path, file:// or a local path`);
  }
  if (/^[a-z][a-z0-9+.-]*::/i.test(url)) throw new GitConfigurationError('git remote helpers (<transport>::<address>) are not allowed');
  // scp-like syntax: [user@]host:path, where host has no slash before the colon.
  if (/^([^@/:]+@)?[^/:]+:(?!\/\/)/.test(url) && !isAbsolute(url)) return { kind: 'ssh', url };
  return { kind: 'file', url: pathToFileURL(resolve(baseDir, url)).href };
}

/** `https://host:port/` — the scope a credential header is restricted to. */
function originOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}/`;
}

/** Single-quotes a word for the POSIX shell git runs GIT_SSH_COMMAND with. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface GitEnvironment {
  remote: Remote;
  /** Variables git runs with (the service's own git variables removed, ours added). */
  env: Record<string, string>;
  /** Variables this module set on purpose; simple-git refuses guarded variables it was not told about. */
  allowed: string[];
  /** Values that must never reach a log line, an error message or a reply. */
  secrets: string[];
}

export interface GitEnvironmentOptions {
  /** A private (0700) folder for the SSH key and known_hosts files of this repository. */
  secretsDir: string;
  /** Resolves `env:`/`file:` references; resolveSecret from @rungate/config in production. */
  resolveSecret: (ref: string) => string;
  baseEnv?: NodeJS.ProcessEnv;
  baseDir?: string;
}

function writePrivateFile(dir: string, name: string, content: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = join(dir, name);
  // OpenSSH refuses keys that others can read and keys without a final newline.
  writeFileSync(path, content.endsWith('\n') ? content : `${content}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/**
 * The environment git runs with for one repository. Credentials travel only here: an HTTPS
 * token as an `Authorization` header scoped to the remote's origin (GIT_CONFIG_* variables,
 * which unlike `-c` never show in a process list), an SSH key through GIT_SSH_COMMAND with a
 * pinned known_hosts file and StrictHostKeyChecking=yes (no trust on first use). Never the URL.
 */
export function gitEnvironment(repository: Pick<RepositoryConfig, 'name' | 'url' | 'auth'>, options: GitEnvironmentOptions): GitEnvironment {
  const remote = parseRemote(repository.url, options.baseDir);
  const base = options.baseEnv ?? process.env;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    const upper = key.toUpperCase();
    if (upper.startsWith('GIT_') || NEVER_INHERITED.has(upper)) continue;
    env[key] = value;
  }
  const ours: Record<string, string> = {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: ALLOWED_PROTOCOLS,
  };
  for (const key of INHERITED_GIT_VARIABLES) {
    const value = base[key];
    if (value) ours[key] = value;
  }
  const secrets: string[] = [];
  const auth = repository.auth ?? {};
  if (auth.token) {
    if (remote.kind !== 'https') {
      throw new GitConfigurationError(`repository ${repository.name}: auth.token is only sent over https:// (the URL is ${remote.kind})`);
    }
    const token = options.resolveSecret(auth.token);
    const credentials = token.includes(':') ? token : `x-access-token:${token}`;
    const header = `Authorization: Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    ours['GIT_CONFIG_COUNT'] = '1';
    ours['GIT_CONFIG_KEY_0'] = `http.${originOf(remote.url)}.extraHeader`;
    ours['GIT_CONFIG_VALUE_0'] = header;
    secrets.push(token, header, Buffer.from(credentials, 'utf8').toString('base64'));
    if (token.includes(':')) secrets.push(token.slice(token.indexOf(':') + 1));
  }
  if (auth.sshKey || auth.knownHosts) {
    if (remote.kind !== 'ssh') {
      throw new GitConfigurationError(`repository ${repository.name}: auth.sshKey/knownHosts need an ssh URL (ssh://… or git@host:path)`);
    }
    if (!auth.knownHosts) {
      throw new GitConfigurationError(`repository ${repository.name}: auth.sshKey needs auth.knownHosts (the server's pinned host key; no trust on first use)`);
    }
  }
  if (remote.kind === 'ssh') {
    const ssh = [
      'ssh',
      '-F /dev/null',
      '-o BatchMode=yes',
      '-o StrictHostKeyChecking=yes',
      '-o ConnectTimeout=15',
      '-o ServerAliveInterval=15',
      '-o ServerAliveCountMax=3',
    ];
    if (auth.knownHosts) {
      const knownHosts = writePrivateFile(options.secretsDir, 'known_hosts', options.resolveSecret(auth.knownHosts));
      ssh.push(`-o UserKnownHostsFile=${shellQuote(knownHosts)}`, '-o GlobalKnownHostsFile=/dev/null');
    }
    if (auth.sshKey) {
      const key = options.resolveSecret(auth.sshKey);
      secrets.push(key);
      ssh.push('-o IdentitiesOnly=yes', `-i ${shellQuote(writePrivateFile(options.secretsDir, 'id', key))}`);
    }
    ours['GIT_SSH_COMMAND'] = ssh.join(' ');
  }
  return { remote, env: { ...env, ...ours }, allowed: Object.keys(ours), secrets: secrets.filter((s) => s.length >= 4) };
}

/** Removes credentials from text that may be logged or returned: known secrets and URL user-info. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join('***');
  return result.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}
