import { Inject, Injectable } from '@nestjs/common';
import { AuthenticateReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import { BUS } from '@rungate/runtime';
import { callerDigest } from './in-flight-calls';

const AUTHENTICATE_TIMEOUT_MS = 5000;
const BEARER = /^Bearer ([\x21-\x7e]{1,8192})$/i;

export interface Caller {
  identity: Identity;
  /** The SHA-256 of the bearer token: whose calls a cancellation may reach. */
  digest: string;
}

/** The bearer token an Authorization header presents, if it is well-formed. */
export function presentedBearer(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header.trim())?.[1] : undefined;
}

/** The bearer token an Authorization header presents; UNAUTHENTICATED, saying why, when none is. */
export function requiredBearer(header: string | undefined): string {
  if (!header) throw new RungateError('UNAUTHENTICATED', 'missing bearer token');
  const bearer = presentedBearer(header);
  if (!bearer) throw new RungateError('UNAUTHENTICATED', 'malformed Authorization header; expected "Bearer <token>"');
  return bearer;
}

/** Resolves `Authorization: Bearer …` to an identity through policy, on every request. */
@Injectable()
export class Authenticator {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  async authenticate(header: string | undefined): Promise<Caller> {
    const bearer = requiredBearer(header);
    return { identity: await this.identityOf(bearer), digest: callerDigest(bearer) };
  }

  /** Policy's authenticate.v1 for a well-formed bearer token. */
  async identityOf(bearer: string): Promise<Identity> {
    return (await this.bus.request(Subjects.policyAuthenticate, { bearer }, AuthenticateReply, { timeoutMs: AUTHENTICATE_TIMEOUT_MS })).identity;
  }
}
