import { z } from 'zod';

/** What a token may narrow its human's rights to; absent means "no narrowing". */
export const TokenScope = z.object({
  runbooks: z.array(z.string()).optional(),
  connections: z.array(z.string()).optional(),
});
export type TokenScope = z.infer<typeof TokenScope>;

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
