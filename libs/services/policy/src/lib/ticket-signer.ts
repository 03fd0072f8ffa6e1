import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { resolveSecret } from '@rungate/config';
import type { RunTicketClaims } from '@rungate/contracts';
import { CONFIG, SERVICE_CONTEXT, type ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { prepareTicket, signingKeyFromPem, type IssuedTickets, type PreparedTicket, type SigningKey } from '@rungate/tickets';
import { InternalError } from '@rungate/contracts';

/** Holds policy's Ed25519 signing key; only policy has it, executors hold public keys. */
@Injectable()
export class TicketSigner {
  private readonly key: SigningKey;
  /** Derived from the signing key, so every policy replica has it and the database does not. */
  readonly digestKey: Buffer;
  /** Where an executor in this process finds what was signed here (ADR 25); absent across processes. */
  private readonly issued?: IssuedTickets;

  constructor(@Inject(CONFIG) config: ConfigHolder, @Inject(SERVICE_CONTEXT) ctx: ServiceContext) {
    this.issued = ctx.issuedTickets;
    const ref = config.current.tickets.signingKey;
    if (!ref) throw new InternalError('tickets.signingKey is not configured: policy cannot sign run tickets (see `rungate keys generate`)');
    this.key = signingKeyFromPem(resolveSecret(ref));
    const der = this.key.privateKey.export({ type: 'pkcs8', format: 'der' });
    this.digestKey = createHash('sha256').update('rungate idempotency digest v1\u0000').update(der).digest();
  }

  /** The signing key's id (as in every ticket's header): what a digest made with digestKey is tied to. */
  get keyId(): string {
    return this.key.kid;
  }

  sign(claims: RunTicketClaims): string {
    return this.prepare(claims).sign();
  }

  /** The ticket encoded, its length known, to be signed later (see prepareTicket). */
  prepare(claims: RunTicketClaims): PreparedTicket {
    const prepared = prepareTicket(claims, this.key);
    const issued = this.issued;
    if (!issued) return prepared;
    return {
      length: prepared.length,
      sign: () => {
        const ticket = prepared.sign();
        issued.add(ticket, claims);
        return ticket;
      },
    };
  }
}
