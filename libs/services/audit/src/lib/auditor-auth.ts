import { Inject, Injectable } from '@nestjs/common';
import { AuthenticateReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import type { Bus } from '@rungate/messaging';
import type { AuditQuery } from '@rungate/persistence';
import { globToRegExp } from '@rungate/config';
import { BUS, CONFIG, type ConfigHolder } from '@rungate/runtime';

const BEARER = /^Bearer ([\x21-\x7e]{1,8192})$/i;
const READ_SCOPE = 'audit:read';

/**
 * What a reader may see of the trail: everything, or — a token narrowed to runbooks or
 * connections — only events about those (POSIX patterns for the query). Events about no
 * runbook or connection (administration, refused logins, unknown tools) are then out of sight.
 */
export function auditVisibility(identity: Identity): AuditQuery['visible'] {
  const { runbooks, connections } = identity.scope;
  if (!runbooks && !connections) return undefined;
  // globToRegExp's output is literal text, [^/], .*, (?:…)? and ^…$: PostgreSQL reads it the same.
  return {
    ...(runbooks ? { runbooks: runbooks.map((glob) => globToRegExp(glob).source) } : {}),
    ...(connections ? { connections: connections.map((glob) => globToRegExp(glob).source) } : {}),
  };
}

/**
 * Who may read the audit trail: a bearer that policy resolves (agent token from
 * `rungate token create` or rungate.yaml, or an OIDC access token — the same identities the
 * gateway accepts) that was given the `audit:read` scope explicitly, whose user is in one of
 * `audit.auditorGroups` (default `auditors`). Both are needed: an agent token its auditor
 * made for other work reads nothing. Groups are read at every request, so removing someone
 * from the group takes effect at once.
 */
@Injectable()
export class AuditorAuthenticator {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: ConfigHolder,
  ) {}

  /** The identity behind the bearer token, whoever it is. */
  async identify(header: string | undefined): Promise<Identity> {
    if (!header) throw new RungateError('UNAUTHENTICATED', 'missing bearer token: send "Authorization: Bearer <token>" with a token of a user in an auditor group');
    const match = BEARER.exec(header.trim());
    if (!match) throw new RungateError('UNAUTHENTICATED', 'malformed Authorization header; expected "Bearer <token>"');
    const { identity } = await this.bus.request(Subjects.policyAuthenticate, { bearer: match[1] }, AuthenticateReply, { timeoutMs: 5000 });
    return identity;
  }

  /**
   * Throws FORBIDDEN unless the identity may read the trail — or, as a `reviewer`, exploration
   * sessions, which `audit.reviewerGroups` may read besides the auditor groups (ADR 19).
   */
  checkReader(identity: Identity, as: 'auditor' | 'reviewer' = 'auditor'): void {
    const { auditorGroups, reviewerGroups } = this.config.current.audit;
    const allowed = as === 'reviewer' ? [...auditorGroups, ...reviewerGroups] : auditorGroups;
    const setting = as === 'reviewer' ? 'audit.auditorGroups and audit.reviewerGroups' : 'audit.auditorGroups';
    if (!identity.groups.some((group) => allowed.includes(group))) {
      throw new RungateError('FORBIDDEN', `${identity.user} may not read the audit trail: it is open to the groups in ${setting} (${allowed.join(', ') || 'none'})`);
    }
    if (!identity.scopes?.includes(READ_SCOPE)) {
      throw new RungateError(
        'FORBIDDEN',
        `this token may not read the audit trail: it was not given the ${READ_SCOPE} scope. Make one that is: rungate token create --user ${identity.user} --agent <name> --scope ${READ_SCOPE} (or scopes: [${READ_SCOPE}] on a token in rungate.yaml, or the ${READ_SCOPE} scope on an access token)`,
      );
    }
  }
}
