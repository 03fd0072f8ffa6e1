import { z } from 'zod';
import { AccessScope, Identity } from './identity';

/** Longest an agent token made from the console lives. */
export const MAX_SELF_SERVICE_TTL_MS = 30 * 86_400_000;

const Globs = z.array(z.string().min(1).max(256)).min(1).max(50);

/**
 * A user's own agent tokens, managed from the web console (`rungate.policy.tokens.v1`, ADR 23):
 * list theirs, make one for themselves (narrowed as they choose, never wider than they are),
 * revoke one of theirs.
 */
export const AgentTokensRequest = z.discriminatedUnion('action', [
  z.object({ action: z.literal('list'), identity: Identity }),
  z.object({
    action: z.literal('create'),
    identity: Identity,
    agent: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'an agent name is 1–100 letters, digits, . _ @ -'),
    ttlMs: z.number().int().min(60_000).max(MAX_SELF_SERVICE_TTL_MS),
    runbooks: Globs.optional(),
    connections: Globs.optional(),
    scopes: z.array(AccessScope).optional(),
  }),
  z.object({ action: z.literal('revoke'), identity: Identity, id: z.string().min(1).max(100) }),
]);
export type AgentTokensRequest = z.infer<typeof AgentTokensRequest>;

export const AgentTokenView = z.object({
  id: z.string(),
  user: z.string(),
  agent: z.string(),
  runbooks: z.array(z.string()).optional(),
  connections: z.array(z.string()).optional(),
  scopes: z.array(AccessScope),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().optional(),
});
export type AgentTokenView = z.infer<typeof AgentTokenView>;

/** The user's tokens after the action; `created` carries a new token, shown this once. */
export const AgentTokensReply = z.object({ tokens: z.array(AgentTokenView), created: z.object({ id: z.string(), token: z.string() }).optional() });
export type AgentTokensReply = z.infer<typeof AgentTokensReply>;
