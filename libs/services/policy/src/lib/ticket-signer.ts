import { Inject, Injectable } from '@nestjs/common';
import { resolveSecret } from '@rungate/config';
import type { RunTicketClaims } from '@rungate/contracts';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { signTicket, signingKeyFromPem, type SigningKey } from '@rungate/tickets';

/** Holds policy's Ed25519 signing key; only policy has it, executors hold public keys. */
@Injectable()
export class TicketSigner {
  private readonly key: SigningKey;

  constructor(@Inject(CONFIG) config: ConfigHolder) {
    const ref = config.current.tickets.signingKey;
    if (!ref) throw new Error('tickets.signingKey is not configured: policy cannot sign run tickets (see `rungate keys generate`)');
    this.key = signingKeyFromPem(resolveSecret(ref));
  }

  sign(claims: RunTicketClaims): string {
    return signTicket(claims, this.key);
  }
}
