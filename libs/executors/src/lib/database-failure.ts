import { RungateError } from '@rungate/contracts';
import type { SecretScrubber } from './secrets';

/** Where a SQL run was when it failed: it decides what is known about the target's state. */
export type RunPhase = 'connect' | 'begin' | 'body' | 'commit';

/** What a SQL adapter knows when it words a driver's failure. */
export interface SqlFailureContext {
  connection: string;
  /** `host:port`, never the URL. */
  address: string;
  phase: RunPhase;
  scrubber: SecretScrubber;
  readOnly: boolean;
  timeoutMs: number;
  /** The pipeline cancelled the run (timeout or shutdown). */
  cancelled: boolean;
  /** An exploration (ADR 19), which always runs read-only. */
  exploration?: boolean;
}

/** What node:net puts in `code` when a database connection fails, in words. */
export const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
};

/**
 * A lost (or refused) database connection, precise about the target's state: before the body
 * nothing ran; during the body the transaction was not committed; during COMMIT whether it
 * committed is unknown. `at` names the connection and its `host:port`, never its URL.
 */
export function connectionLost(phase: RunPhase, at: string, lost: string): RungateError {
  if (phase === 'connect' || phase === 'begin') return new RungateError('TARGET_UNAVAILABLE', `cannot reach the database of ${at}: ${lost}; nothing was executed`);
  if (phase === 'commit') {
    return new RungateError('OUTCOME_UNKNOWN', `lost ${at} while committing (${lost}); whether the transaction committed is unknown — check the target before running it again`);
  }
  return new RungateError('TARGET_UNAVAILABLE', `lost ${at} during the run (${lost}); the transaction was not committed`);
}
