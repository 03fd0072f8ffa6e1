import { createHash, randomBytes } from 'node:crypto';
import { resolveSecret, type ConsoleOidc, type OidcConfig } from '@rungate/config';
import { RungateError } from '@rungate/contracts';

interface Pending {
  verifier: string;
  redirectUri: string;
  expiresAt: number;
}

interface Endpoints {
  authorization: string;
  token: string;
}

/** How long a browser may take at the issuer between leaving and coming back. */
const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 10_000;

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/**
 * The console's OpenID Connect sign-in: the authorization code flow with PKCE (S256) against
 * the issuer of `oidc:`. The access token the issuer gives is the session's bearer, checked by
 * policy like any other (its audience, groups claim and scopes); the console trusts nothing
 * else from the issuer. `state` is single use and bound to the browser by a cookie.
 */
export class OidcLogin {
  private readonly pending = new Map<string, Pending>();
  private endpoints?: { issuer: string; value: Endpoints };

  constructor(private readonly now: () => number = Date.now) {}

  /** Where to send the browser, and the state its cookie must carry back. */
  async start(oidc: OidcConfig, client: ConsoleOidc, redirectUri: string): Promise<{ location: string; state: string }> {
    const { authorization } = await this.discover(oidc);
    const now = this.now();
    for (const [key, entry] of this.pending) if (entry.expiresAt <= now) this.pending.delete(key);
    while (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    const state = base64url(randomBytes(32));
    const verifier = base64url(randomBytes(32));
    this.pending.set(state, { verifier, redirectUri, expiresAt: now + PENDING_TTL_MS });
    const url = new URL(authorization);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scope: client.scopes.join(' '),
      state,
      code_challenge: base64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    }).toString();
    return { location: url.toString(), state };
  }

  /** The access token for a returning browser's code; undefined for a state unknown, spent or expired. */
  async finish(oidc: OidcConfig, client: ConsoleOidc, state: string, code: string): Promise<string | undefined> {
    const pending = this.pending.get(state);
    this.pending.delete(state);
    if (!pending || pending.expiresAt <= this.now()) return undefined;
    const { token } = await this.discover(oidc);
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: pending.redirectUri, client_id: client.clientId, code_verifier: pending.verifier });
    if (client.clientSecret) body.set('client_secret', resolveSecret(client.clientSecret));
    let response: Response;
    try {
      response = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new RungateError('SERVICE_UNAVAILABLE', 'the issuer\'s token endpoint cannot be reached');
    }
    const answer = (await response.json().catch(() => undefined)) as { access_token?: unknown; error?: unknown } | undefined;
    if (!response.ok || typeof answer?.access_token !== 'string') {
      throw new RungateError('UNAUTHENTICATED', `the issuer did not exchange the code${typeof answer?.error === 'string' ? ` (${answer.error.slice(0, 100)})` : ` (HTTP ${response.status})`}`);
    }
    return answer.access_token;
  }

  private async discover(oidc: OidcConfig): Promise<Endpoints> {
    if (this.endpoints?.issuer === oidc.issuer) return this.endpoints.value;
    let document: { authorization_endpoint?: unknown; token_endpoint?: unknown } | undefined;
    try {
      const response = await fetch(`${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
      document = response.ok ? ((await response.json()) as typeof document) : undefined;
    } catch {
      document = undefined;
    }
    if (typeof document?.authorization_endpoint !== 'string' || typeof document.token_endpoint !== 'string') {
      throw new RungateError('SERVICE_UNAVAILABLE', `the issuer ${oidc.issuer} publishes no authorization and token endpoints (/.well-known/openid-configuration)`);
    }
    const value = { authorization: document.authorization_endpoint, token: document.token_endpoint };
    this.endpoints = { issuer: oidc.issuer, value };
    return value;
  }
}
