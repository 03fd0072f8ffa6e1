import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfig } from '@rungate/config';
import type { ConnectionOf } from '@rungate/executors';
import { DEFAULT_PATH, checkAsenv, resolveConnectionEnvironment, scriptEnvironment } from './script-environment';

function shellConnection(input: Record<string, unknown>): ConnectionOf<'shell'> {
  return ConnectionConfig.parse({ name: 'ops-box', type: 'shell', ...input }) as ConnectionOf<'shell'>;
}

describe('shell connection configuration', () => {
  it('defaults to /bin/sh, no variables and 1 MiB of output', () => {
    expect(shellConnection({})).toEqual({ name: 'ops-box', type: 'shell', shell: '/bin/sh', env: {}, maxBytes: 1024 * 1024 });
  });

  it.each([
    [{ shell: 'bash' }, 'absolute path'],
    [{ shell: '/bin/bash -e' }, 'absolute path'],
    [{ env: { 'AWS-PROFILE': 'ops' } }, 'shell variable name'],
    [{ env: { '1X': 'ops' } }, 'shell variable name'],
    [{ env: { TOKEN: 'env:lower-case' } }, 'secret reference'],
    [{ env: { TOKEN: 'file:' } }, 'secret reference'],
    [{ env: { X: 'a\0b' } }, 'NUL'],
  ])('refuses %j', (input, message) => {
    const parsed = ConnectionConfig.safeParse({ name: 'ops-box', type: 'shell', ...input });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message).join('; ')).toContain(message);
  });
});

describe('resolveConnectionEnvironment', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'rg-shell-env-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps literals and resolves env: and file: references, remembering which values are secrets', () => {
    writeFileSync(join(dir, 'token'), 'file-secret-value\n');
    const connection = shellConnection({ env: { AWS_PROFILE: 'ops', AWS_SECRET_ACCESS_KEY: 'env:OPS_AWS_SECRET', GH_TOKEN: `file:${join(dir, 'token')}` } });
    const resolved = resolveConnectionEnvironment(connection, { OPS_AWS_SECRET: 'env-secret-value' });
    expect(resolved.variables).toEqual({ AWS_PROFILE: 'ops', AWS_SECRET_ACCESS_KEY: 'env-secret-value', GH_TOKEN: 'file-secret-value' });
    expect(resolved.secrets).toEqual(['env-secret-value', 'file-secret-value']);
  });

  it('refuses a run whose secret does not resolve, naming the reference only', () => {
    const connection = shellConnection({ env: { TOKEN: 'env:NOT_SET_ANYWHERE', PLAIN: 'visible' } });
    expect(() => resolveConnectionEnvironment(connection, {})).toThrow(
      expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: 'connection ops-box: env TOKEN: secret env:NOT_SET_ANYWHERE: environment variable is not set; nothing was executed' }),
    );
    const missingFile = shellConnection({ env: { TOKEN: `file:${join(dir, 'absent')}` } });
    expect(() => resolveConnectionEnvironment(missingFile, {})).toThrow(expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: expect.stringContaining('cannot read file (ENOENT)') }));
  });

  it('refuses a secret that holds a NUL byte without quoting it', () => {
    writeFileSync(join(dir, 'binary'), 'abc\0def');
    const connection = shellConnection({ env: { TOKEN: `file:${join(dir, 'binary')}` } });
    expect(() => resolveConnectionEnvironment(connection, {})).toThrow(expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: expect.not.stringContaining('abc') }));
  });
});

describe('checkAsenv', () => {
  const connection = { variables: { AWS_SECRET_ACCESS_KEY: 's3cret', KUBECONFIG: '/etc/rungate/kubeconfig' }, secrets: ['s3cret'] };

  it('accepts ordinary names with any value', () => {
    expect(() => checkAsenv({ TARGET: "'; rm -rf / #", EMPTY: '', NEWLINES: 'a\nb' }, connection, 'ops-box')).not.toThrow();
  });

  it.each([
    ['AWS_SECRET_ACCESS_KEY', 'declares this variable'],
    ['KUBECONFIG', 'declares this variable'],
    ['PATH', 'executor sets this variable'],
    ['HOME', 'executor sets this variable'],
    ['TMPDIR', 'executor sets this variable'],
    ['BASH_ENV', 'changes how the shell'],
    ['ENV', 'changes how the shell'],
    ['IFS', 'changes how the shell'],
    ['SHELLOPTS', 'changes how the shell'],
    ['LD_PRELOAD', 'changes how the shell'],
    ['LD_LIBRARY_PATH', 'changes how the shell'],
    ['DYLD_INSERT_LIBRARIES', 'changes how the shell'],
    ['UID', 'the shell sets this variable'],
    ['EUID', 'the shell sets this variable'],
    ['PPID', 'the shell sets this variable'],
    ['BASH_VERSINFO', 'the shell sets this variable'],
    ['not-a-name', 'not a shell variable name'],
    ['1ST', 'not a shell variable name'],
  ])('refuses asenv %s', (name, why) => {
    expect(() => checkAsenv({ [name]: 'x' }, connection, 'ops-box')).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS', message: expect.stringContaining(why) }));
  });

  it('refuses a value holding a NUL byte', () => {
    expect(() => checkAsenv({ NAME: 'a\0b' }, connection, 'ops-box')).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS', message: expect.stringContaining('NUL') }));
  });

  it('names the connection when a parameter would replace one of its variables, and never the value', () => {
    expect(() => checkAsenv({ AWS_SECRET_ACCESS_KEY: 'from-the-caller' }, connection, 'ops-box')).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^asenv "AWS_SECRET_ACCESS_KEY": connection ops-box declares.*nothing was executed$/) }),
    );
  });
});

describe('scriptEnvironment', () => {
  it('is the minimal PATH, the run directory as HOME and TMPDIR, the asenv and the connection variables: nothing else', () => {
    const env = scriptEnvironment('/tmp/rungate-run-x', { variables: { AWS_PROFILE: 'ops' }, secrets: [] }, { TARGET: 'web-1' });
    expect(env).toEqual({ PATH: DEFAULT_PATH, HOME: '/tmp/rungate-run-x', TMPDIR: '/tmp/rungate-run-x', AWS_PROFILE: 'ops', TARGET: 'web-1' });
  });

  it('lets the connection set its own PATH and HOME', () => {
    const env = scriptEnvironment('/tmp/rungate-run-x', { variables: { PATH: '/opt/tools/bin:/usr/bin', HOME: '/var/lib/ops' }, secrets: [] }, {});
    expect(env).toMatchObject({ PATH: '/opt/tools/bin:/usr/bin', HOME: '/var/lib/ops', TMPDIR: '/tmp/rungate-run-x' });
  });
});
