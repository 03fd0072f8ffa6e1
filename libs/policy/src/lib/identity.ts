import { createHash } from 'node:crypto';
import { RungateError, type Identity } from '@rungate/contracts';
import type { RungateConfig } from '@rungate/config';

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const indexes = new WeakMap<RungateConfig['tokens'], Map<string, RungateConfig['tokens'][number]>>();

function tokenIndex(tokens: RungateConfig['tokens']): Map<string, RungateConfig['tokens'][number]> {
  let index = indexes.get(tokens);
  if (!index) {
    index = new Map(tokens.map((t) => [t.sha256, t]));
    indexes.set(tokens, index);
  }
  return index;
}

/**
 * Resolves a static token from rungate.yaml. The token is compared by hash; the human's
 * groups are read now, at call time, so removing a user from a group takes effect on the
 * agent's next call. Only a token marked `human: true` is a human acting directly (ADR 18 §3).
 */
export function authenticateStaticToken(config: RungateConfig, bearer: string, now = Date.now()): Identity {
  // Looked up by the hash of the presented token: timing reveals nothing about stored tokens.
  const token = tokenIndex(config.tokens).get(tokenSha256(bearer));
  if (!token) throw new RungateError('UNAUTHENTICATED', 'unknown or revoked token');
  const tokenId = token.sha256.slice(0, 12);
  // Whose token it was stays with the refusal (never shown to the caller): the audit record names it.
  const whose = { tokenId, user: token.user, agent: token.agent };
  // Worded as for a stored token past its expiry: the agent's remedy is the same, a new token.
  if (token.expiresAt !== undefined && Date.parse(token.expiresAt) <= now) throw new RungateError('UNAUTHENTICATED', 'token expired', whose);
  const user = config.users.find((u) => u.name === token.user);
  if (!user) throw new RungateError('UNAUTHENTICATED', 'the token belongs to a user who no longer exists', whose);
  return {
    user: user.name,
    groups: [...user.groups],
    ...(token.agent === undefined ? {} : { agent: token.agent }),
    tokenId,
    scope: {
      ...(token.runbooks ? { runbooks: token.runbooks } : {}),
      ...(token.connections ? { connections: token.connections } : {}),
    },
    scopes: [...token.scopes],
    ...(token.human ? { human: true } : {}),
  };
}
