import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTicketKeyPair } from '@rungate/tickets';

/**
 * A fresh ticket key pair in `dir` (policy.ed25519, mode 0600, and its .pub), and the
 * `tickets:` line of a rungate.yaml that signs with it and verifies by it.
 */
export function writeTicketKeys(dir: string): string {
  const keys = generateTicketKeyPair();
  writeFileSync(join(dir, 'policy.ed25519'), keys.privatePem, { mode: 0o600 });
  writeFileSync(join(dir, 'policy.ed25519.pub'), keys.publicPem);
  return `tickets: { signingKey: file:${join(dir, 'policy.ed25519')}, verifyKeys: [file:${join(dir, 'policy.ed25519.pub')}] }`;
}
