import { Injectable, Logger } from '@nestjs/common';
import type { AttemptCode, AuditActor } from '@rungate/contracts';
import type { Attempt } from '@rungate/messaging';
import { AttemptAudit } from '@rungate/runtime';

/** How much of a bearer token's SHA-256 an attempt record keeps: a static token's id is the same prefix. */
const DIGEST_PREFIX = 12;

/** The part of a token's digest an attempt record may keep (enough to correlate; the token is never recorded). */
export function digestPrefix(digest: string | undefined): Record<string, string> {
  return digest ? { tokenSha256Prefix: digest.slice(0, DIGEST_PREFIX) } : {};
}

/**
 * The gateway's share of the attempt records (ADR 17): what never reached policy, or what
 * policy could not answer — a failed bearer token, malformed JSON-RPC, a body too large, a
 * tool name no tool can have, policy unreachable. Policy records every refusal it answers.
 * A refusal is answered even when its record cannot be stored; the log says so.
 */
@Injectable()
export class EdgeAttempts {
  private readonly log = new Logger('attempts');

  constructor(private readonly attempts: AttemptAudit) {}

  async record(attempt: Omit<Attempt, 'source'>): Promise<void> {
    try {
      await this.attempts.record({ source: 'gateway', ...attempt });
    } catch (error) {
      this.log.error(`could not record an attempt (${attempt.code}: ${attempt.reason.slice(0, 200)}) by ${attempt.actor.user}: ${(error as Error).message}`);
    }
  }

  /** An attempt answered before anything was checked: counted, never recorded one by one. */
  count(actor: AuditActor, code: AttemptCode): void {
    this.attempts.count(actor, code);
  }
}
