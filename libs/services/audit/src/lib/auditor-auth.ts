import { Inject, Injectable } from '@nestjs/common';
import { AuthenticateReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import { BUS, CONFIG, type ConfigHolder } from '@rungate/runtime';

const BEARER = /^Bearer ([\x21-\x7e]{1,8192})$/i;

/**
 * Who may read the audit trail: a bearer that policy resolves (agent token from
 * `rungate token create` or rungate.yaml, or an OIDC access token — the same identities the
 * gateway accepts) whose user is in one of `audit.auditorGroups` (default `auditors`).
 * Groups are read at every request, so removing someone from the group takes effect at once.
 */
@Injectable()
export class AuditorAuthenticator {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: ConfigHolder,
  ) {}

  async authenticate(header: string | undefined): Promise<Identity> {
    if (!header) throw new RungateError('UNAUTHENTICATED', 'missing bearer token: send "Authorization: Bearer <token>" with a token of a user in an auditor group');
    const match = BEARER.exec(header.trim());
    if (!match) throw new RungateError('UNAUTHENTICATED', 'malformed Authorization header; expected "Bearer <token>"');
    const { identity } = await this.bus.request(Subjects.policyAuthenticate, { bearer: match[1] }, AuthenticateReply, { timeoutMs: 5000 });
    const allowed = this.config.current.audit.auditorGroups;
    if (!identity.groups.some((group) => allowed.includes(group))) {
      throw new RungateError('FORBIDDEN', `${identity.user} may not read the audit trail: it is open to the groups in audit.auditorGroups (${allowed.join(', ') || 'none'})`);
    }
    return identity;
  }
}
