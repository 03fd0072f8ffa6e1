import { AccessScope, RungateError, type Identity, InternalError } from '@rungate/contracts';
import type { OidcConfig } from '@rungate/config';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export function looksLikeJwt(bearer: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(bearer);
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Maps jose's failures to reasons safe to show a caller (never the token itself). */
function reasonFor(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'token audience is not this gateway';
    if (error.claim === 'iss') return 'token issuer is not trusted';
    if (error.claim === 'nbf') return 'token is not valid yet';
    return `token claim ${error.claim} is invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token signing algorithm is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'token signed by an unknown key';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'malformed token';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JOSEError) return 'token could not be verified';
  return 'token could not be verified';
}

/**
 * Validates OAuth 2.1 / OIDC JWT access tokens against the issuer's JWKS: signature with an
 * allow-listed algorithm, issuer, audience (bound to this gateway), expiry. The human's
 * groups come from a configurable claim; the agent's name from the client id.
 */
/**
 * Rungate's own scopes the issuer granted: OAuth's space-separated `scope` claim (RFC 8693
 * §4.2), or the `scp` array some issuers use. Anything else the token may carry is ignored.
 */
function grantedScopes(payload: JWTPayload): AccessScope[] {
  const raw = payload['scope'] ?? payload['scp'];
  const listed = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw.filter((s): s is string => typeof s === 'string') : [];
  return AccessScope.options.filter((scope) => listed.includes(scope));
}

export class OidcVerifier {
  private jwks?: JWTVerifyGetKey;

  /**
   * `humanClients`: the client ids (as agentClaims read them) whose tokens are a human acting
   * directly — oidc.humanClients and the console's own client; every other client is an agent.
   */
  constructor(
    private readonly config: OidcConfig,
    private readonly humanClients: readonly string[] = config.humanClients,
    private readonly fetchJson: (url: string) => Promise<unknown> = async (url) => (await fetch(url)).json(),
  ) {}

  private async keys(): Promise<JWTVerifyGetKey> {
    if (this.jwks) return this.jwks;
    let jwksUri = this.config.jwksUri;
    if (!jwksUri) {
      const discovery = (await this.fetchJson(`${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)) as {
        jwks_uri?: unknown;
      };
      if (typeof discovery.jwks_uri !== 'string') throw new InternalError('the issuer publishes no jwks_uri');
      jwksUri = discovery.jwks_uri;
    }
    this.jwks = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    return this.jwks;
  }

  async verify(token: string): Promise<{ identity: Identity; expiresAt: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keys(), {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: 5,
      }));
    } catch (error) {
      throw new RungateError('UNAUTHENTICATED', reasonFor(error));
    }
    const user = stringClaim(payload, this.config.userClaim) ?? payload.sub;
    if (!user) throw new RungateError('UNAUTHENTICATED', `token has no ${this.config.userClaim} or sub claim`);
    const rawGroups = payload[this.config.groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : [];
    const agent = this.config.agentClaims.map((claim) => stringClaim(payload, claim)).find(Boolean);
    return {
      identity: {
        user,
        groups,
        ...(agent ? { agent } : {}),
        ...(payload.jti ? { tokenId: `jwt:${payload.jti}` } : {}),
        scope: {},
        scopes: grantedScopes(payload),
        ...(agent !== undefined && this.humanClients.includes(agent) ? { human: true } : {}),
      },
      expiresAt: (payload.exp as number) * 1000,
    };
  }
}
