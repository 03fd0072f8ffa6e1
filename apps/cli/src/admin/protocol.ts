import { join, relative } from 'node:path';
import { AccessScope } from '@rungate/contracts';
import { z } from 'zod';

// The admin channel between `rungate serve` and the CLI of the same OS user (ADR 11): HTTP
// with JSON bodies over the Unix socket `<data-dir>/admin.sock`. Both sides validate every
// body with these schemas.

export const adminSocketPath = (dataDir: string) => join(dataDir, 'admin.sock');

/** sun_path holds 108 bytes on Linux (104 on macOS and the BSDs), the terminating NUL included. */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/**
 * The address to bind or connect to for a socket path: the path itself, or — when it is longer
 * than a Unix socket address can hold — the same file relative to the working directory.
 * Undefined when neither fits.
 */
export function socketAddress(path: string, cwd = process.cwd()): string | undefined {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return path;
  const short = relative(cwd, path);
  return Buffer.byteLength(short) <= MAX_SOCKET_PATH ? short : undefined;
}

export const TokenRecord = z.object({
  id: z.string(),
  user: z.string(),
  agent: z.string(),
  runbooks: z.array(z.string()).optional(),
  connections: z.array(z.string()).optional(),
  scopes: z.array(AccessScope).default([]),
  human: z.literal(true).optional(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().optional(),
});

export const CreateTokenRequest = z.strictObject({
  user: z.string().min(1),
  agent: z.string().min(1),
  ttlMs: z.number().int().positive(),
  runbooks: z.array(z.string().min(1)).optional(),
  connections: z.array(z.string().min(1)).optional(),
  scopes: z.array(AccessScope).optional(),
  human: z.boolean().optional(),
});
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

export const CreatedToken = z.object({ token: z.string(), record: TokenRecord });
export const TokenList = z.object({ tokens: z.array(TokenRecord) });
export const RevokedToken = z.object({ record: TokenRecord });

/** What `GET /v1/status` answers: enough to tell a live serve from a stale socket file. */
export const AdminStatus = z.object({ pid: z.number().int() });

/** A one-time web-console sign-in link for a user (ADR 23). */
export const ConsoleLinkRequest = z.strictObject({ user: z.string().min(1) });
export const ConsoleLink = z.object({ user: z.string(), url: z.string() });

export const AdminRoutes = {
  status: '/v1/status',
  consoleLink: '/v1/console/link',
  tokens: '/v1/tokens',
  revoke: (id: string) => `/v1/tokens/${encodeURIComponent(id)}/revoke`,
} as const;
