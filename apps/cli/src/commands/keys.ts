import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateTicketKeyPair } from '@rungate/tickets';

export interface KeysGenerateOptions {
  out: string;
  name: string;
}

/** `rungate keys generate`: a fresh Ed25519 pair for signing run tickets; never overwrites one. */
export function generateKeys(options: KeysGenerateOptions): number {
  const dir = resolve(options.out);
  const privatePath = join(dir, `${options.name}.ed25519`);
  if (existsSync(privatePath)) {
    process.stderr.write(`rungate keys generate: ${privatePath} exists; refusing to overwrite a signing key\n`);
    return 1;
  }
  const keys = writeTicketKeys(dir, options.name);
  process.stdout.write(`signingKey: file:${keys.signingKey}\nverifyKeys: [file:${keys.verifyKey}]\n`);
  return 0;
}

/** A new Ed25519 pair as `<dir>/<name>.ed25519` (0600) and its `.pub` (0644), in a 0700 folder. */
export function writeTicketKeys(dir: string, name: string): { signingKey: string; verifyKey: string } {
  const signingKey = join(dir, `${name}.ed25519`);
  const pair = generateTicketKeyPair();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(signingKey, pair.privatePem, { mode: 0o600 });
  writeFileSync(`${signingKey}.pub`, pair.publicPem, { mode: 0o644 });
  return { signingKey, verifyKey: `${signingKey}.pub` };
}
