import { createHash, randomBytes } from 'node:crypto';
import { AccessScope } from '@rungate/contracts';
import type { DataSource } from 'typeorm';

export interface AgentTokenRecord {
  id: string;
  user: string;
  agent: string;
  runbooks?: string[];
  connections?: string[];
  /** Permissions given explicitly at creation (`audit:read`); none by default. */
  scopes: AccessScope[];
  /** A human's own token (`--human`, a console sign-in), not an agent's: only such a one may approve (ADR 18 §3). */
  human?: true;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
}

export interface NewAgentToken {
  user: string;
  agent: string;
  ttlMs: number;
  runbooks?: string[];
  connections?: string[];
  scopes?: AccessScope[];
  human?: boolean;
}

/** `rg_` + 43 URL-safe characters (256 bits): long enough, and easy for secret scanners to find. */
export function generateAgentToken(): string {
  return `rg_${randomBytes(32).toString('base64url')}`;
}

export const agentTokenSha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

interface Row {
  id: string;
  user_name: string;
  agent: string;
  scope_runbooks: string[] | null;
  scope_connections: string[] | null;
  scopes: unknown;
  human: boolean;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

function toRecord(row: Row): AgentTokenRecord {
  return {
    id: row.id,
    user: row.user_name,
    agent: row.agent,
    ...(row.scope_runbooks ? { runbooks: row.scope_runbooks } : {}),
    ...(row.scope_connections ? { connections: row.scope_connections } : {}),
    // Only scopes this version knows: one written by a newer version, or by hand, grants nothing.
    scopes: Array.isArray(row.scopes) ? AccessScope.options.filter((scope) => (row.scopes as unknown[]).includes(scope)) : [],
    ...(row.human === true ? { human: true as const } : {}),
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
    ...(row.revoked_at ? { revokedAt: new Date(row.revoked_at).toISOString() } : {}),
  };
}

export class TokenStore {
  constructor(private readonly db: DataSource) {}

  /** Stores the hash; returns the token, which is never stored or shown again. */
  async create(input: NewAgentToken): Promise<{ token: string; record: AgentTokenRecord }> {
    const token = generateAgentToken();
    const id = `tok_${randomBytes(6).toString('hex')}`;
    const rows: Row[] = await this.db.query(
      `INSERT INTO agent_tokens (id, sha256, user_name, agent, scope_runbooks, scope_connections, scopes, human, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + ($9::bigint * interval '1 millisecond')) RETURNING *`,
      [
        id,
        agentTokenSha256(token),
        input.user,
        input.agent,
        input.runbooks ? JSON.stringify(input.runbooks) : null,
        input.connections ? JSON.stringify(input.connections) : null,
        JSON.stringify([...new Set(input.scopes ?? [])]),
        input.human === true,
        input.ttlMs,
      ],
    );
    return { token, record: toRecord(rows[0] as Row) };
  }

  async list(): Promise<AgentTokenRecord[]> {
    const rows: Row[] = await this.db.query('SELECT * FROM agent_tokens ORDER BY created_at');
    return rows.map(toRecord);
  }

  async revoke(id: string): Promise<AgentTokenRecord | undefined> {
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const [rows] = (await this.db.query('UPDATE agent_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *', [id])) as [Row[], number];
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** The token behind a bearer, with why it may not be used (expired, revoked), if any. */
  async find(token: string): Promise<{ record: AgentTokenRecord; refusal?: 'expired' | 'revoked' } | undefined> {
    const rows: (Row & { expired: boolean })[] = await this.db.query('SELECT *, expires_at <= now() AS expired FROM agent_tokens WHERE sha256 = $1', [
      agentTokenSha256(token),
    ]);
    const row = rows[0];
    if (!row) return undefined;
    const record = toRecord(row);
    if (row.revoked_at) return { record, refusal: 'revoked' };
    if (row.expired) return { record, refusal: 'expired' };
    return { record };
  }
}
