import { Inject, Injectable } from '@nestjs/common';
import { RungateError, type AuthenticateReply } from '@rungate/contracts';
import { OidcVerifier, authenticateStaticToken, looksLikeJwt } from '@rungate/policy';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';

/** Authenticated identities are re-checked every call; this bounds how long one is trusted. */
const IDENTITY_TTL_MS = 60_000;

/** Opaque agent tokens and OAuth/OIDC access tokens, both resolved to one Identity shape. */
@Injectable()
export class Authenticator {
  private oidc?: OidcVerifier;

  constructor(@Inject(CONFIG) private readonly config: ConfigHolder) {
    this.configure();
    config.onChange((next, previous) => {
      if (JSON.stringify(next.oidc) !== JSON.stringify(previous.oidc)) this.configure();
    });
  }

  private configure(): void {
    const oidc = this.config.current.oidc;
    this.oidc = oidc ? new OidcVerifier(oidc) : undefined;
  }

  async authenticate(bearer: string): Promise<AuthenticateReply> {
    if (looksLikeJwt(bearer)) {
      if (!this.oidc) throw new RungateError('UNAUTHENTICATED', 'JWT access tokens are not accepted: no issuer is configured');
      return this.oidc.verify(bearer);
    }
    return { identity: authenticateStaticToken(this.config.current, bearer), expiresAt: Date.now() + IDENTITY_TTL_MS };
  }
}
