import { Injectable } from '@nestjs/common';
import { RungateError, type AttemptCode, type Identity, type RequestMeta } from '@rungate/contracts';
import { anonymousActor } from '@rungate/messaging';
import type { Request } from 'express';
import { AuthFailures } from './auth-failures';
import { EdgeAttempts, digestPrefix } from './edge-attempts';
import { Authenticator, presentedBearer, requiredBearer, type Caller } from './identity.guard';
import { callerDigest } from './in-flight-calls';

/** Why a request was answered before it was served, for each edge to word in its own format. */
export type BearerRefusal =
  /** The source sent too many failing tokens: answered 429 before its token is even looked at. */
  | { kind: 'rate-limited'; retryAfterSeconds: number }
  /** No token, a malformed header, or one policy does not accept (401); `missing`: no Authorization header at all. */
  | { kind: 'unauthenticated'; error: RungateError; missing: boolean }
  /** Policy could not check the token (503). */
  | { kind: 'unavailable'; message: string };

export function metaOf(req: Request): RequestMeta {
  return { ip: req.ip, userAgent: req.headers['user-agent'] };
}

/**
 * The bearer check every gateway edge that serves a caller makes (the MCP endpoint, the
 * /v1/runs API): a source over gateway.authFailureLimit is refused before its token is looked
 * at, the token is resolved by policy on every request, and each refusal is an attempt on the
 * record (the 429s counted, not recorded one by one). Each edge answers the refusal itself.
 */
@Injectable()
export class BearerGate {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly attempts: EdgeAttempts,
    private readonly authFailures: AuthFailures,
  ) {}

  /** `details`: what the edge adds to a refusal's attempt record (the API path, say). */
  async identify(req: Request, details: Record<string, unknown> = {}): Promise<{ caller: Caller } | { refusal: BearerRefusal }> {
    return this.identifyWith(req, async (bearer) => ({ identity: await this.authenticator.identityOf(bearer), answer: undefined }), details);
  }

  /**
   * Whether the request presents a well-formed bearer token from a source not over its limit:
   * only then may `identify` need policy (the MCP edge reads such a request's body first, ADR 24).
   */
  mayAuthenticate(req: Request): boolean {
    const bearer = presentedBearer(req.headers.authorization);
    return bearer !== undefined && this.authFailures.refusal(sourceOf(req), callerDigest(bearer), Date.now()) === undefined;
  }

  /**
   * `identify`, with `resolve` in place of policy's authenticate: it resolves the bearer token
   * to an identity and answers whatever else the same request to policy asked (tools/call's
   * decision, ADR 24). The same checks, records and refusals: a token `resolve` rejects with
   * UNAUTHENTICATED is refused 401, any other failure 503.
   */
  async identifyWith<T>(
    req: Request,
    resolve: (bearer: string) => Promise<{ identity: Identity; answer: T }>,
    details: Record<string, unknown> = {},
  ): Promise<{ caller: Caller; answer: T } | { refusal: BearerRefusal }> {
    const header = req.headers.authorization;
    const bearer = presentedBearer(header);
    const digest = bearer === undefined ? undefined : callerDigest(bearer);
    const source = sourceOf(req);
    const actor = anonymousActor(metaOf(req));
    const retryAfterMs = this.authFailures.refusal(source, digest, Date.now());
    if (retryAfterMs !== undefined) {
      this.attempts.count(actor, 'auth-rate-limited');
      return { refusal: { kind: 'rate-limited', retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) } };
    }
    try {
      const presented = requiredBearer(header);
      const { identity, answer } = await resolve(presented);
      const caller = { identity, digest: callerDigest(presented) };
      this.authFailures.succeeded(source, caller.digest, Date.now());
      return { caller, answer };
    } catch (error) {
      const unauthenticated = error instanceof RungateError && error.code === 'UNAUTHENTICATED';
      // A request without a token is how OAuth clients discover the metadata: audited, not held against the source.
      if (unauthenticated && header) this.authFailures.failed(source, Date.now());
      const code: AttemptCode = unauthenticated ? 'unauthenticated' : 'policy-unavailable';
      const whose = unauthenticated && error.details?.['tokenId'] ? { token: { id: error.details['tokenId'], user: error.details['user'], agent: error.details['agent'] } } : {};
      await this.attempts.record({
        actor,
        code,
        reason: error instanceof RungateError ? error.message : 'authentication failed',
        answered: unauthenticated ? 'http:401' : 'http:503',
        details: { ...digestPrefix(digest), ...whose, ...details },
      });
      if (unauthenticated) return { refusal: { kind: 'unauthenticated', error, missing: !header } };
      return { refusal: { kind: 'unavailable', message: error instanceof RungateError ? error.message : 'authentication is unavailable' } };
    }
  }
}

function sourceOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
