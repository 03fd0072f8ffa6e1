import { z } from 'zod';

/** What a token may narrow its human's rights to; absent means "no narrowing". */
export const TokenScope = z.object({
  runbooks: z.array(z.string()).optional(),
  connections: z.array(z.string()).optional(),
});
export type TokenScope = z.infer<typeof TokenScope>;

/**
 * What a token may do beyond running its human's runbooks; each must be asked for when the
 * token is made (`rungate token create --scope audit:read`, `scopes:` in rungate.yaml, the
 * `scope` claim of an access token). `audit:read`: query the audit trail, if the human is
 * also in an auditor group.
 */
export const AccessScope = z.enum(['audit:read']);
export type AccessScope = z.infer<typeof AccessScope>;

/**
 * Who is calling. An agent always acts for a human: `user` and `groups` are that human's,
 * resolved at call time, and `scope` can only narrow them.
 */
export const Identity = z.object({
  user: z.string(),
  groups: z.array(z.string()),
  agent: z.string().optional(),
  tokenId: z.string().optional(),
  scope: TokenScope.default({}),
  /** Permissions the token was given explicitly; absent is none (an agent token never reads the audit trail unless made to). */
  scopes: z.array(AccessScope).optional(),
  /**
   * A human acting directly (a static token with `human: true`, `rungate token create --human`,
   * an OIDC client listed as human-facing), not an agent. Only such a credential may approve a
   * held run (ADR 18 §3); absent is false.
   */
  human: z.boolean().optional(),
});
export type Identity = z.infer<typeof Identity>;

export const RequestMeta = z.object({
  ip: z.string().optional(),
  userAgent: z.string().optional(),
});
export type RequestMeta = z.infer<typeof RequestMeta>;

export const AuthenticateRequest = z.object({ bearer: z.string().min(1).max(8192) });
export type AuthenticateRequest = z.infer<typeof AuthenticateRequest>;
export const AuthenticateReply = z.object({ identity: Identity, expiresAt: z.number().int() });
export type AuthenticateReply = z.infer<typeof AuthenticateReply>;
