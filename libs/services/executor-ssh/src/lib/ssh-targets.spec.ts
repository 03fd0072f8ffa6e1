import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfig, type SshConnectionConfig } from '@rungate/config';
import { sshKeyPair } from '@rungate/testing';
import { SshTargets, resolveSshSecrets, sshEndpoint } from './ssh-targets';

const hostKey = sshKeyPair('ed25519').public.trim();
const plain = sshKeyPair('ed25519');
const encrypted = sshKeyPair('ed25519', { passphrase: 'open sesame', cipher: 'aes256-ctr', rounds: 2 });
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

function ssh(fields: Record<string, unknown>): SshConnectionConfig {
  const parsed = ConnectionConfig.parse({ name: 'bastion', type: 'ssh', host: 'bastion.internal', user: 'ops', hostKey, ...fields });
  if (parsed.type !== 'ssh') throw new Error('not ssh');
  return parsed;
}

describe('sshEndpoint', () => {
  const env = { KEY: plain.private, ENC_KEY: encrypted.private, PASSPHRASE: 'open sesame', WRONG: 'nope', PUBLIC: plain.public, PW: 'hunter22' };
  const endpoint = (fields: Record<string, unknown>) => {
    const connection = ssh(fields);
    return sshEndpoint(connection, resolveSshSecrets(connection, env));
  };

  it('applies the pool, keep-alive and connect-timeout defaults', () => {
    expect(endpoint({ privateKey: 'env:KEY' })).toMatchObject({
      host: 'bastion.internal',
      port: 22,
      user: 'ops',
      maxConnections: 4,
      sessionsPerConnection: 4,
      idleTimeoutMs: 300_000,
      keepaliveMs: 15_000,
      connectTimeoutMs: 10_000,
      hostKey: { type: 'ssh-ed25519' },
      command: "exec 'sh' -s",
      warmSessions: 1,
    });
    expect(endpoint({ privateKey: 'env:KEY', warmSessions: 0, shell: '/bin/bash' })).toMatchObject({ warmSessions: 0, command: "exec '/bin/bash' -s" });
    expect(endpoint({ password: 'env:PW', pool: { max: 1, sessions: 2, idleTimeout: '30s' }, keepalive: '5s', connectTimeout: '2s' })).toMatchObject({
      password: 'hunter22',
      maxConnections: 1,
      sessionsPerConnection: 2,
      idleTimeoutMs: 30_000,
      keepaliveMs: 5000,
      connectTimeoutMs: 2000,
    });
  });

  it('opens an encrypted key with its passphrase', () => {
    expect(endpoint({ privateKey: 'env:ENC_KEY', passphrase: 'env:PASSPHRASE' }).privateKey?.getPrivatePEM()).toMatch(/PRIVATE KEY/);
  });

  it.each([
    [{}, 'neither privateKey nor password is configured'],
    [{ password: 'env:NOT_SET' }, 'password: secret env:NOT_SET: environment variable is not set'],
    [{ privateKey: 'file:/nonexistent/key' }, 'privateKey: secret file:/nonexistent/key: cannot read file (ENOENT)'],
    [{ privateKey: 'env:ENC_KEY' }, 'privateKey is encrypted and no passphrase is configured'],
    [{ privateKey: 'env:ENC_KEY', passphrase: 'env:WRONG' }, 'privateKey is encrypted and the passphrase does not open it'],
    [{ privateKey: 'env:PUBLIC' }, 'privateKey is not a private key Rungate can read (OpenSSH or PEM: ed25519, ecdsa, rsa)'],
    [{ privateKey: 'env:PW' }, 'privateKey is not a private key Rungate can read (OpenSSH or PEM: ed25519, ecdsa, rsa)'],
  ])('refuses %j before connecting', (fields, reason) => {
    expect(() => endpoint(fields)).toThrow(expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: `connection bastion: ${reason}; nothing was executed` }));
  });
});

describe('SshTargets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-ssh-targets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a connection\'s pool while nothing changes, and starts a new one when its secret does', async () => {
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, plain.private);
    const targets = new SshTargets(quiet, {});
    const connection = ssh({ privateKey: `file:${keyFile}` });
    const first = targets.poolFor(connection);
    expect(targets.poolFor(connection)).toBe(first);
    writeFileSync(keyFile, sshKeyPair('ed25519').private);
    const rotated = targets.poolFor(connection);
    expect(rotated).not.toBe(first);
    expect(targets.poolFor(ssh({ privateKey: `file:${keyFile}`, port: 2222 }))).not.toBe(rotated);
    await targets.close();
  });
});
