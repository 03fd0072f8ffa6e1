import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A signed-in browser: the bearer it acts with stays here, never in the page or the cookie. */
export interface ConsoleSession {
  /** The bearer the console presents to policy and the audit API for this user (ADR 23). */
  bearer: string;
  /** Who signed in, for the page header; the identity itself is asked of policy on every request. */
  user: string;
  /** The synchronizer token every form of this session carries (CSRF). */
  csrf: string;
  expiresAt: number;
}

interface LoginLink {
  bearer: string;
  user: string;
  expiresAt: number;
}

/** Neither table grows without bound: past this, the oldest entries go first. */
const MAX_ENTRIES = 10_000;

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function secret(): string {
  return randomBytes(32).toString('base64url');
}

function sweep<T extends { expiresAt: number }>(table: Map<string, T>, now: number): void {
  for (const [key, entry] of table) if (entry.expiresAt <= now) table.delete(key);
  while (table.size >= MAX_ENTRIES) table.delete(table.keys().next().value as string);
}

export interface ConsoleTtls {
  sessionTtl: number;
  loginLinkTtl: number;
}

/**
 * Console sign-ins, in this gateway's memory: one-time login codes (single use, short-lived)
 * and the sessions they are exchanged for. Only digests of the codes and session ids are kept,
 * so a heap dump names no cookie. A gateway restart signs everyone out.
 */
export class ConsoleSessions {
  private readonly links = new Map<string, LoginLink>();
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(
    private readonly ttls: () => ConsoleTtls,
    private readonly now: () => number = Date.now,
  ) {}

  /** A one-time code that signs `user` in with `bearer`; valid for loginLinkTtl, once. */
  issueLoginCode(bearer: string, user: string): { code: string; expiresAt: number } {
    const now = this.now();
    sweep(this.links, now);
    const code = secret();
    const expiresAt = now + this.ttls().loginLinkTtl;
    this.links.set(digest(code), { bearer, user, expiresAt });
    return { code, expiresAt };
  }

  /** Spends the code (whatever happens next, it never works again) and opens a session. */
  redeem(code: string): { id: string; session: ConsoleSession } | undefined {
    const key = digest(code);
    const link = this.links.get(key);
    this.links.delete(key);
    if (!link || link.expiresAt <= this.now()) return undefined;
    return this.open(link.bearer, link.user);
  }

  open(bearer: string, user: string): { id: string; session: ConsoleSession } {
    const now = this.now();
    sweep(this.sessions, now);
    const id = secret();
    const session: ConsoleSession = { bearer, user, csrf: secret(), expiresAt: now + this.ttls().sessionTtl };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  get(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (session && session.expiresAt <= this.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return session;
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }
}

/** The form's CSRF token against the session's, in constant time. */
export function csrfMatches(session: ConsoleSession, sent: string | undefined): boolean {
  if (!sent) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}
