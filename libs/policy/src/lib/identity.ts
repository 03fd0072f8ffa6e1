import { createHash, timingSafeEqual } from 'node:crypto';
import { RungateError, type Identity } from '@rungate/contracts';
import type { RungateConfig } from '@rungate/config';

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Resolves a static agent token from rungate.yaml. The token is compared by hash; the
 * human's groups are read now, at call time, so removing a user from a group takes effect
 * on the agent's next call.
 */
export function authenticateStaticToken(config: RungateConfig, bearer: string): Identity {
  const digest = Buffer.from(tokenSha256(bearer), 'hex');
  const token = config.tokens.find((t) => timingSafeEqual(Buffer.from(t.sha256, 'hex'), digest));
  if (!token) throw new RungateError('UNAUTHENTICATED', 'unknown or revoked token');
  const user = config.users.find((u) => u.name === token.user);
  if (!user) throw new RungateError('UNAUTHENTICATED', 'the token belongs to a user who no longer exists');
  return {
    user: user.name,
    groups: [...user.groups],
    agent: token.agent,
    tokenId: token.sha256.slice(0, 12),
    scope: {
      ...(token.runbooks ? { runbooks: token.runbooks } : {}),
      ...(token.connections ? { connections: token.connections } : {}),
    },
  };
}
