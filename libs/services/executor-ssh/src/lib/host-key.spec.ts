import { sshKeyPair } from '@rungate/testing';
import { hostKeyFingerprint, isPinnedHostKey, parsePinnedHostKey } from './host-key';

const ed25519 = sshKeyPair('ed25519').public.trim();
const other = sshKeyPair('ed25519').public.trim();
const ecdsa = sshKeyPair('ecdsa', { bits: 256 }).public.trim();
const blobOf = (line: string) => Buffer.from(line.split(' ')[1] ?? '', 'base64');

describe('parsePinnedHostKey', () => {
  it('decodes a .pub line, with or without a comment, and offers only its type in the handshake', () => {
    const pinned = parsePinnedHostKey(`${ed25519.split(' ').slice(0, 2).join(' ')} root@bastion`, 'bastion');
    expect(pinned.type).toBe('ssh-ed25519');
    expect(pinned.algorithms).toEqual(['ssh-ed25519']);
    expect(pinned.blob).toEqual(blobOf(ed25519));
    expect(parsePinnedHostKey(ecdsa, 'bastion').algorithms).toEqual(['ecdsa-sha2-nistp256']);
  });

  it('offers every RSA signature algorithm for an RSA key, SHA-2 first', () => {
    const rsa = sshKeyPair('rsa', { bits: 2048 }).public.trim();
    expect(parsePinnedHostKey(rsa, 'bastion').algorithms).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it.each([
    ['an unsupported type', `ssh-dss ${ed25519.split(' ')[1]}`, /unsupported key type "ssh-dss"/],
    ['a type that disagrees with the key', `ecdsa-sha2-nistp256 ${ed25519.split(' ')[1]}`, /holds no key of type ecdsa-sha2-nistp256/],
    ['a truncated key', `ssh-ed25519 AAAA`, /holds no key of type ssh-ed25519/],
    ['no base64', 'ssh-ed25519 not*base64', /is not "<type> <base64>"/],
  ])('refuses %s, naming the connection', (_, line, message) => {
    expect(() => parsePinnedHostKey(line, 'bastion')).toThrow(expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/^connection bastion: hostKey /) }));
    expect(() => parsePinnedHostKey(line, 'bastion')).toThrow(message);
  });
});

describe('isPinnedHostKey', () => {
  const pinned = parsePinnedHostKey(ed25519, 'bastion');

  it('accepts exactly the pinned key', () => {
    expect(isPinnedHostKey(pinned, blobOf(ed25519))).toBe(true);
  });

  it('refuses any other key, a prefix of it, or nothing', () => {
    expect(isPinnedHostKey(pinned, blobOf(other))).toBe(false);
    expect(isPinnedHostKey(pinned, blobOf(ed25519).subarray(0, 20))).toBe(false);
    expect(isPinnedHostKey(pinned, Buffer.alloc(0))).toBe(false);
  });
});

describe('hostKeyFingerprint', () => {
  it('prints OpenSSH\'s SHA256 fingerprint format', () => {
    expect(hostKeyFingerprint(blobOf(ed25519))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
