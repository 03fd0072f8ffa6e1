import { utils } from 'ssh2';

type KeyType = 'ed25519' | 'ecdsa' | 'rsa';
type KeyOptions = { bits?: number; passphrase?: string; cipher?: string; rounds?: number };

/**
 * ssh2's `utils.generateKeyPairSync`, but only keys ssh2 itself can read back. About one
 * ed25519 pair in 170 comes out with its public key's leading zero byte dropped (31 bytes),
 * which `utils.parseKey` then rejects as malformed — a flaky test, not a finding.
 */
export function sshKeyPair(type: KeyType, options: KeyOptions = {}): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    // ssh2's overloads want the encryption fields all or none; the options pass them through as given.
    const generate = utils.generateKeyPairSync as (type: KeyType, options: KeyOptions) => { private: string; public: string };
    const pair = generate(type, options);
    const parsed = [utils.parseKey(pair.private, options.passphrase), utils.parseKey(pair.public)].map((p) => (Array.isArray(p) ? p[0] : p));
    if (parsed.every((key) => key !== undefined && !(key instanceof Error))) return pair;
  }
  throw new Error(`ssh2 could not generate a readable ${type} key pair`);
}
