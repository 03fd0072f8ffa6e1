import { RungateError } from '@rungate/contracts';
import { NETWORK_REASONS, connectionLost, type SqlFailureContext } from '@rungate/executors';

export type { RunPhase } from '@rungate/executors';

/** What pg and node:net put on their errors (pg's DatabaseError carries the SQLSTATE in `code`). */
interface DriverError {
  message?: string;
  code?: string;
  detail?: string;
  hint?: string;
}

export type FailureContext = SqlFailureContext;

/** SQLSTATEs that mean the server would not (or could no longer) serve this connection. */
function serverRefusal(code: string): string | undefined {
  if (code.startsWith('28')) return 'the database rejected the executor\'s credentials';
  if (code === '3D000') return 'the database does not exist';
  if (code === '53300') return 'the database has no free connection slots';
  if (code === '57P03') return 'the database is starting up or shutting down';
  if (code === '57P01' || code === '57P02') return 'the database server is shutting down';
  if (code.startsWith('08')) return 'the database connection failed';
  return undefined;
}

function lostReason(error: DriverError): string | undefined {
  if (error.code && NETWORK_REASONS[error.code]) return NETWORK_REASONS[error.code];
  if (error.code) return serverRefusal(error.code);
  const message = error.message ?? '';
  if (/timeout exceeded when trying to connect/i.test(message)) return 'every pooled connection stayed busy (raise pool.max or retry later)';
  if (/timeout expired|connection timeout/i.test(message)) return 'connection timed out';
  if (/Connection terminated|connection error|not queryable|ended unexpectedly/i.test(message)) return 'the connection was closed';
  return undefined;
}

/**
 * Turns what pg threw into an error safe to show an agent and precise about the target's
 * state: unreachable (nothing ran), rolled back, or unknown (the connection died during
 * COMMIT). Every message goes through the connection's scrubber.
 */
export function describeFailure(caught: unknown, context: FailureContext): RungateError {
  if (caught instanceof RungateError) return caught;
  const error: DriverError = typeof caught === 'object' && caught !== null ? (caught as DriverError) : { message: String(caught) };
  const scrub = (text: string) => context.scrubber.scrub(text);
  const at = `connection ${context.connection} (${context.address})`;
  const lost = lostReason(error) ?? (context.phase === 'connect' ? 'could not connect' : undefined);
  if (lost) return connectionLost(context.phase, at, lost);
  const message = scrub(error.message ?? 'unknown error');
  if (error.code === '55P03' && context.exploration) {
    return new RungateError('EXECUTION_FAILED', `${message}: an exploration waits for a lock only briefly (lock_timeout), so it never queues behind a write; the transaction was rolled back`);
  }
  if (error.code === '57014') {
    if (context.cancelled) return new RungateError('EXECUTION_FAILED', 'the running statement was cancelled and the transaction rolled back');
    if (/statement timeout/i.test(message)) {
      return new RungateError('TIMEOUT', `a statement exceeded the run's time limit of ${context.timeoutMs} ms and was cancelled; the transaction was rolled back`);
    }
    return new RungateError('EXECUTION_FAILED', `the database cancelled the statement (${message}); the transaction was rolled back`);
  }
  if (error.code === '25006' && context.exploration) {
    return new RungateError('EXPLORATION_REFUSED', `explorations run in a read-only transaction: ${message}; nothing was written`);
  }
  if (error.code === '25006') {
    return new RungateError('EXECUTION_FAILED', `this runbook is @readonly, so it runs in a read-only transaction: ${message}; nothing was written`);
  }
  if (error.code) {
    const detail = error.detail ? ` (${scrub(error.detail)})` : '';
    const hint = error.hint ? `; hint: ${scrub(error.hint)}` : '';
    return new RungateError('EXECUTION_FAILED', `${message}${detail} [SQLSTATE ${error.code}]${hint}; the transaction was rolled back`);
  }
  return new RungateError('EXECUTION_FAILED', `the database client failed: ${message}; the transaction was not committed`);
}
