import { resolveSecret } from '@rungate/config';
import { verifyKeyFromPem, type VerifyKey } from '@rungate/tickets';
import { InternalError } from '@rungate/contracts';

/**
 * Resolves `tickets.verifyKeys` (PEM Ed25519 public keys behind env:/file: references).
 * An executor without a key could verify no ticket, so an empty list is an error, and so
 * is any key that does not load: failing at start beats refusing every run later.
 */
export function loadVerifyKeys(refs: readonly string[], env: NodeJS.ProcessEnv = process.env): VerifyKey[] {
  if (refs.length === 0) {
    throw new InternalError('tickets.verifyKeys is empty: an executor needs policy\'s public key to verify run tickets (see `rungate keys generate`)');
  }
  return refs.map((ref, index) => {
    try {
      return verifyKeyFromPem(resolveSecret(ref, env));
    } catch (error) {
      throw new InternalError(`tickets.verifyKeys[${index}] (${ref}): ${(error as Error).message}`);
    }
  });
}

/** The verify keys in force; rungate.yaml reloads swap them, and a list that fails to load keeps the last good one. */
export class VerifyKeyRing {
  private keys: VerifyKey[];

  constructor(
    refs: readonly string[],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.keys = loadVerifyKeys(refs, env);
  }

  get current(): readonly VerifyKey[] {
    return this.keys;
  }

  /** Throws (and keeps the current keys) when the new list does not load. */
  reload(refs: readonly string[]): void {
    this.keys = loadVerifyKeys(refs, this.env);
  }
}
