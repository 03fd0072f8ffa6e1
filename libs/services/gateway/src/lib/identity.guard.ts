import { Inject, Injectable } from '@nestjs/common';
import { AuthenticateReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import { BUS } from '@rungate/runtime';

const BEARER = /^Bearer ([\x21-\x7e]{1,8192})$/i;

/** Resolves `Authorization: Bearer …` to an identity through policy, on every request. */
@Injectable()
export class Authenticator {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  async authenticate(header: string | undefined): Promise<Identity> {
    if (!header) throw new RungateError('UNAUTHENTICATED', 'missing bearer token');
    const match = BEARER.exec(header.trim());
    if (!match) throw new RungateError('UNAUTHENTICATED', 'malformed Authorization header; expected "Bearer <token>"');
    const reply = await this.bus.request(Subjects.policyAuthenticate, { bearer: match[1] }, AuthenticateReply, { timeoutMs: 5000 });
    return reply.identity;
  }
}
