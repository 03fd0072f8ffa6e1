import { createHash, timingSafeEqual } from 'node:crypto';
import { RungateError } from '@rungate/contracts';

/** A connection's pinned host key, decoded once: what the server must present, byte for byte. */
export interface PinnedHostKey {
  /** The key type, e.g. `ssh-ed25519`. */
  readonly type: string;
  /** The public key blob (SSH wire format), as the server sends it during key exchange. */
  readonly blob: Buffer;
  /**
   * The host key algorithms offered in the handshake: only those that can produce the pinned
   * key, so a server holding several host keys presents the pinned one instead of another
   * that could not be verified.
   */
  readonly algorithms: string[];
}

const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  // One RSA key signs with any of these; SHA-2 first (RFC 8332).
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

function invalid(connection: string, why: string): RungateError {
  return new RungateError('TARGET_UNAVAILABLE', `connection ${connection}: hostKey ${why}; nothing was executed. Copy it from the server's /etc/ssh/ssh_host_*_key.pub`);
}

/**
 * Decodes `hostKey` ("ssh-ed25519 AAAA… [comment]", as in the server's .pub file). The blob
 * names its own type; a line whose two disagree was pasted together wrongly and is refused.
 */
export function parsePinnedHostKey(line: string, connection: string): PinnedHostKey {
  const [type = '', base64 = ''] = line.trim().split(/\s+/);
  const algorithms = ALGORITHMS[type];
  if (!algorithms) throw invalid(connection, `has an unsupported key type ${JSON.stringify(type)}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw invalid(connection, 'is not "<type> <base64>"');
  const blob = Buffer.from(base64, 'base64');
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length < 0 || 4 + length > blob.length || blob.subarray(4, 4 + length).toString('latin1') !== type) {
    throw invalid(connection, `holds no key of type ${type}`);
  }
  return { type, blob, algorithms };
}

/** Whether the key the server presented is the pinned one. */
export function isPinnedHostKey(pinned: PinnedHostKey, presented: Buffer): boolean {
  return presented.length === pinned.blob.length && timingSafeEqual(presented, pinned.blob);
}

/** OpenSSH's `SHA256:…` fingerprint of a key blob: for the operator's log, never an agent's message. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
