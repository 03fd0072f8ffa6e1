import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitConfigurationError, gitEnvironment, parseRemote, redact, shellQuote } from './git-environment';

const secrets: Record<string, string> = {
  'env:GIT_TOKEN': 'ghp_s3cr3tT0ken',
  'env:USER_TOKEN': 'oauth2:glpat-abcdef',
  'file:/keys/id': '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----',
  'file:/keys/known_hosts': 'git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
};
const resolveSecret = (ref: string) => {
  const value = secrets[ref];
  if (value === undefined) throw new Error(`unknown ${ref}`);
  return value;
};
const options = () => ({ secretsDir: join(mkdtempSync(join(tmpdir(), 'rg-secrets-')), 'ops'), resolveSecret, baseEnv: { PATH: '/usr/bin', HOME: '/home/x' } });

describe('parseRemote', () => {
  it('classifies the URL forms rungate.yaml accepts', () => {
    expect(parseRemote('https://git.example.com/ops/runbooks.git').kind).toBe('https');
    expect(parseRemote('ssh://git@git.example.com:2222/ops/runbooks.git').kind).toBe('ssh');
    expect(parseRemote('git@github.com:ops/runbooks.git')).toEqual({ kind: 'ssh', url: 'git@github.com:ops/runbooks.git' });
    expect(parseRemote('file:///srv/runbooks').kind).toBe('file');
    expect(parseRemote('/srv/runbooks')).toEqual({ kind: 'file', url: 'file:///srv/runbooks' });
    expect(parseRemote('runbooks', '/srv')).toEqual({ kind: 'file', url: 'file:///srv/runbooks' });
  });

  it('refuses transports that run commands', () => {
    expect(() => parseRemote('ext::sh -c touch% /tmp/pwned')).toThrow(GitConfigurationError);
    expect(() => parseRemote('fd::3')).toThrow(/remote helpers/);
    expect(() => parseRemote('ftp://example.com/repo')).toThrow(/unsupported URL scheme/);
  });
});

describe('gitEnvironment', () => {
  it('never prompts, ignores system and global git config, allows only plain transports', () => {
    const { env } = gitEnvironment({ name: 'ops', url: '/srv/runbooks' }, options());
    expect(env).toMatchObject({
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh',
      PATH: '/usr/bin',
    });
    expect(env['GIT_SSH_COMMAND']).toBeUndefined();
    expect(env['GIT_CONFIG_COUNT']).toBeUndefined();
  });

  it('drops the service’s own git and editor variables but keeps a private CA', () => {
    const { env } = gitEnvironment(
      { name: 'ops', url: '/srv/runbooks' },
      { ...options(), baseEnv: { PATH: '/bin', GIT_DIR: '/elsewhere', git_ssh_command: 'evil', EDITOR: 'vim', GIT_SSL_CAINFO: '/etc/ca.pem' } },
    );
    expect(env['GIT_DIR']).toBeUndefined();
    expect(env['git_ssh_command']).toBeUndefined();
    expect(env['EDITOR']).toBeUndefined();
    expect(env['GIT_SSL_CAINFO']).toBe('/etc/ca.pem');
  });

  it('sends an HTTPS token as a Basic Authorization header scoped to the remote origin, never in the URL', () => {
    const result = gitEnvironment({ name: 'ops', url: 'https://git.example.com:8443/ops/runbooks.git', auth: { token: 'env:GIT_TOKEN' } }, options());
    expect(result.remote.url).toBe('https://git.example.com:8443/ops/runbooks.git');
    expect(result.env['GIT_CONFIG_COUNT']).toBe('1');
    expect(result.env['GIT_CONFIG_KEY_0']).toBe('http.https://git.example.com:8443/.extraHeader');
    const header = result.env['GIT_CONFIG_VALUE_0'] ?? '';
    expect(header).toMatch(/^Authorization: Basic /);
    expect(Buffer.from(header.replace('Authorization: Basic ', ''), 'base64').toString()).toBe('x-access-token:ghp_s3cr3tT0ken');
    expect(result.allowed).toEqual(expect.arrayContaining(['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']));
    expect(result.secrets).toEqual(expect.arrayContaining(['ghp_s3cr3tT0ken', header]));
  });

  it('uses user:token as given when the secret names its own user', () => {
    const result = gitEnvironment({ name: 'ops', url: 'https://gitlab.example.com/ops/runbooks.git', auth: { token: 'env:USER_TOKEN' } }, options());
    const header = result.env['GIT_CONFIG_VALUE_0'] ?? '';
    expect(Buffer.from(header.replace('Authorization: Basic ', ''), 'base64').toString()).toBe('oauth2:glpat-abcdef');
    expect(result.secrets).toContain('glpat-abcdef');
  });

  it('refuses to send a token over plain http or ssh', () => {
    expect(() => gitEnvironment({ name: 'ops', url: 'http://git.example.com/r.git', auth: { token: 'env:GIT_TOKEN' } }, options())).toThrow(/only sent over https/);
    expect(() => gitEnvironment({ name: 'ops', url: 'git@git.example.com:r.git', auth: { token: 'env:GIT_TOKEN' } }, options())).toThrow(/only sent over https/);
  });

  it('uses the SSH key and pinned known_hosts with strict host key checking, files readable only by the service', () => {
    const opts = options();
    const result = gitEnvironment(
      { name: 'ops', url: 'git@git.example.com:ops/runbooks.git', auth: { sshKey: 'file:/keys/id', knownHosts: 'file:/keys/known_hosts' } },
      opts,
    );
    const command = result.env['GIT_SSH_COMMAND'] ?? '';
    const key = join(opts.secretsDir, 'id');
    const knownHosts = join(opts.secretsDir, 'known_hosts');
    expect(command).toContain('-o StrictHostKeyChecking=yes');
    expect(command).toContain('-o BatchMode=yes');
    expect(command).toContain(`-o UserKnownHostsFile=${shellQuote(knownHosts)}`);
    expect(command).toContain('-o GlobalKnownHostsFile=/dev/null');
    expect(command).toContain(`-i ${shellQuote(key)}`);
    expect(command).toContain('-o IdentitiesOnly=yes');
    expect(readFileSync(key, 'utf8')).toBe(`${secrets['file:/keys/id']}\n`);
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${secrets['file:/keys/known_hosts']}\n`);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(opts.secretsDir).mode & 0o777).toBe(0o700);
    expect(result.allowed).toContain('GIT_SSH_COMMAND');
    expect(result.secrets).toContain(secrets['file:/keys/id']);
  });

  it('checks ssh host keys strictly even without a configured known_hosts', () => {
    const { env } = gitEnvironment({ name: 'ops', url: 'ssh://git@git.example.com/ops.git' }, options());
    expect(env['GIT_SSH_COMMAND']).toContain('-o StrictHostKeyChecking=yes');
    expect(env['GIT_SSH_COMMAND']).not.toContain('-i ');
  });

  it('refuses an SSH key without a pinned host key (no trust on first use)', () => {
    expect(() => gitEnvironment({ name: 'ops', url: 'git@git.example.com:ops.git', auth: { sshKey: 'file:/keys/id' } }, options())).toThrow(
      /needs auth.knownHosts/,
    );
    expect(() => gitEnvironment({ name: 'ops', url: 'https://git.example.com/ops.git', auth: { sshKey: 'file:/keys/id', knownHosts: 'file:/keys/known_hosts' } }, options())).toThrow(
      /need an ssh URL/,
    );
  });

  it('quotes paths for the shell git runs GIT_SSH_COMMAND with', () => {
    expect(shellQuote("/tmp/it's here")).toBe(`'/tmp/it'\\''s here'`);
  });
});

describe('redact', () => {
  it('removes known secrets and URL credentials from messages', () => {
    expect(redact("fatal: unable to access 'https://bot:ghp_s3cr3tT0ken@git.example.com/x.git/': 401", ['ghp_s3cr3tT0ken'])).toBe(
      "fatal: unable to access 'https://***@git.example.com/x.git/': 401",
    );
    expect(redact('header Authorization: Basic eDp5', ['Authorization: Basic eDp5'])).toBe('header ***');
  });
});
