import { Inject, Injectable } from '@nestjs/common';
import { RungateError, type AuthenticateReply, type Identity } from '@rungate/contracts';
import { TokenStore } from '@rungate/persistence';
import { OidcVerifier, authenticateStaticToken, looksLikeJwt, tokenSha256 } from '@rungate/policy';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { PolicyDatabase } from './policy-database';

/** Authenticated identities are re-checked every call; this bounds how long one is trusted. */
const IDENTITY_TTL_MS = 60_000;

/** Opaque agent tokens and OAuth/OIDC access tokens, both resolved to one Identity shape. */
@Injectable()
export class Authenticator {
  private oidc?: OidcVerifier;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    private readonly database: PolicyDatabase,
  ) {
    this.configure();
    config.onChange((next, previous) => {
      if (JSON.stringify(next.oidc) !== JSON.stringify(previous.oidc) || next.console.oidc?.clientId !== previous.console.oidc?.clientId) this.configure();
    });
  }

  private configure(): void {
    const { oidc, console } = this.config.current;
    // The console's own client signs a human in through a browser: its tokens are a human's (ADR 18 §3).
    const humanClients = [...(oidc?.humanClients ?? []), ...(console.oidc ? [console.oidc.clientId] : [])];
    this.oidc = oidc ? new OidcVerifier(oidc, humanClients) : undefined;
  }

  async authenticate(bearer: string): Promise<AuthenticateReply> {
    if (looksLikeJwt(bearer)) {
      if (!this.oidc) throw new RungateError('UNAUTHENTICATED', 'JWT access tokens are not accepted: no issuer is configured');
      return this.oidc.verify(bearer);
    }
    const config = this.config.current;
    const digest = tokenSha256(bearer);
    if (config.tokens.some((t) => t.sha256 === digest) || !this.database.configured) {
      return { identity: authenticateStaticToken(config, bearer), expiresAt: Date.now() + IDENTITY_TTL_MS };
    }
    return { identity: await this.fromDatabase(bearer), expiresAt: Date.now() + IDENTITY_TTL_MS };
  }

  /** Tokens made with `rungate token create` (`--human`: a human's own): checked on every call, so revocation is immediate. */
  private async fromDatabase(bearer: string): Promise<Identity> {
    let found;
    try {
      found = await new TokenStore(await this.database.open()).find(bearer);
    } catch {
      throw new RungateError('SERVICE_UNAVAILABLE', 'the token store is unavailable');
    }
    if (!found) throw new RungateError('UNAUTHENTICATED', 'unknown or revoked token');
    // Whose token it was stays with the refusal (never shown to the caller): the audit record names it.
    const whose = { tokenId: found.record.id, user: found.record.user, agent: found.record.agent };
    if (found.refusal) throw new RungateError('UNAUTHENTICATED', `token ${found.refusal}`, whose);
    const user = this.config.current.users.find((u) => u.name === found.record.user);
    if (!user) throw new RungateError('UNAUTHENTICATED', 'the token belongs to a user who no longer exists', whose);
    return {
      user: user.name,
      groups: [...user.groups],
      agent: found.record.agent,
      tokenId: found.record.id,
      scope: {
        ...(found.record.runbooks ? { runbooks: found.record.runbooks } : {}),
        ...(found.record.connections ? { connections: found.record.connections } : {}),
      },
      scopes: [...found.record.scopes],
      ...(found.record.human ? { human: true } : {}),
    };
  }
}
