import { z } from 'zod';
import { Duration as duration, SecretRef } from './primitives';

/** Sign-in with the issuer of `oidc:` (authorization code with PKCE); the access token it gives is what policy checks. */
export const ConsoleOidc = z.strictObject({
  clientId: z.string().min(1).describe("the console's OAuth client id at the issuer (a confidential or public client; redirect URI <gateway>/console/oidc/callback)"),
  clientSecret: SecretRef.optional().describe('its client secret, if the issuer gave it one (sent as client_secret_post)'),
  scopes: z
    .array(z.string().min(1))
    .default(['openid', 'email', 'audit:read'])
    .describe('scopes asked for; audit:read lets the console read the audit trail as the user (who must be an auditor too)'),
});

export type ConsoleOidc = z.infer<typeof ConsoleOidc>;

export const DEFAULT_CONSOLE = { enabled: true, sessionTtl: 8 * 3_600_000, loginLinkTtl: 10 * 60_000 };

/**
 * The web console the gateway serves at /console (ADR 23). It shows what the signed-in
 * user's own identity may see, by asking the same services the MCP endpoint and the audit
 * API ask: nothing here widens a rule.
 */
export const ConsoleConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('serve the web console at /console (default true); false answers 404 there'),
    auditUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe("where the gateway reaches the audit query API for the console's audit and run pages (e.g. http://audit:8082); rungate serve uses its own. Without it those pages say so"),
    sessionTtl: duration
      .refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'from 1m to 24h')
      .default(DEFAULT_CONSOLE.sessionTtl)
      .describe('how long a console sign-in lasts (default 8h); the identity behind it is checked with policy on every request all the same'),
    loginLinkTtl: duration
      .refine((ms) => ms >= 10_000 && ms <= 3_600_000, 'from 10s to 1h')
      .default(DEFAULT_CONSOLE.loginLinkTtl)
      .describe('how long a one-time login link printed by rungate serve stays valid (default 10m); it works once'),
    oidc: ConsoleOidc.optional().describe('sign in with the issuer of oidc: (needs oidc:); without it, only login links of rungate serve'),
  })
  .default(DEFAULT_CONSOLE);
export type ConsoleConfig = z.infer<typeof ConsoleConfig>;
