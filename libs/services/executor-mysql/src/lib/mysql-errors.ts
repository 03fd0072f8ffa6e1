import { RungateError } from '@rungate/contracts';
import { NETWORK_REASONS, connectionLost, type SqlFailureContext } from '@rungate/executors';
import type { StatementInfo } from './mysql-statements';

/** What mysql2 and node:net put on their errors (server errors carry errno and SQLSTATE). */
interface DriverError {
  message?: string;
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  fatal?: boolean;
}

export interface FailureContext extends SqlFailureContext {
  /** Statements of the body that commit implicitly (DDL): they change what "rolled back" means. */
  implicitCommits?: readonly StatementInfo[];
  /** How many statements of the body had finished when it failed. */
  completed?: number;
}

/** MySQL and MariaDB error numbers this executor words itself. */
const ER = {
  DBACCESS_DENIED: 1044,
  ACCESS_DENIED: 1045,
  BAD_DB: 1049,
  CON_COUNT: 1040,
  SERVER_SHUTDOWN: 1053,
  TOO_MANY_USER_CONNECTIONS: 1203,
  QUERY_INTERRUPTED: 1317,
  ACCESS_DENIED_NO_PASSWORD: 1698,
  READ_ONLY_TRANSACTION: 1792,
  /** MariaDB: max_statement_time exceeded. */
  STATEMENT_TIMEOUT: 1969,
  /** MariaDB: the connection was killed. */
  CONNECTION_KILLED: 1927,
  /** MySQL: max_execution_time exceeded. */
  QUERY_TIMEOUT: 3024,
  LOCK_WAIT_TIMEOUT: 1205,
} as const;

const CLIENT_LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED']);

function lostReason(error: DriverError): string | undefined {
  if (error.code && NETWORK_REASONS[error.code]) return NETWORK_REASONS[error.code];
  switch (error.errno) {
    case ER.ACCESS_DENIED:
    case ER.DBACCESS_DENIED:
    case ER.ACCESS_DENIED_NO_PASSWORD:
      return 'the server rejected the executor\'s credentials';
    case ER.BAD_DB:
      return 'the database does not exist';
    case ER.CON_COUNT:
    case ER.TOO_MANY_USER_CONNECTIONS:
      return 'the server has no free connection slots';
    case ER.SERVER_SHUTDOWN:
      return 'the server is shutting down';
    case ER.CONNECTION_KILLED:
      return 'the connection was killed';
    default:
      break;
  }
  if (error.code && CLIENT_LOST.has(error.code)) return 'the connection was closed';
  if (/Connection lost|closed state|connection is in closed/i.test(error.message ?? '')) return 'the connection was closed';
  return undefined;
}

/**
 * What became of the body's effects when it failed. A statement that commits implicitly
 * (DDL) commits everything before it, which MySQL cannot take back.
 */
function rolledBack(context: FailureContext): string {
  const failed = (context.completed ?? 0) + 1;
  const commit = [...(context.implicitCommits ?? [])].reverse().find((statement) => statement.index <= failed);
  if (!commit) return 'the transaction was rolled back';
  const before = commit.index === failed ? commit.index - 1 : commit.index;
  const committed = before >= 1 ? `statements 1–${before} were committed` : 'nothing was committed';
  return `statement ${commit.index} (${commit.command}) commits implicitly in MySQL, so ${committed} and only the statements after it were rolled back — check the target`;
}

/**
 * Turns what mysql2 threw into an error safe to show an agent and precise about the target's
 * state: unreachable (nothing ran), rolled back, partly committed by DDL, or unknown (the
 * connection died during COMMIT). Every message goes through the connection's scrubber.
 */
export function describeFailure(caught: unknown, context: FailureContext): RungateError {
  if (caught instanceof RungateError) return caught;
  const error: DriverError = typeof caught === 'object' && caught !== null ? (caught as DriverError) : { message: String(caught) };
  const scrub = (text: string) => context.scrubber.scrub(text);
  const at = `connection ${context.connection} (${context.address})`;
  const lost = lostReason(error) ?? (context.phase === 'connect' || (error.fatal && error.errno === undefined) ? 'could not connect' : undefined);
  if (lost) {
    const failure = connectionLost(context.phase, at, lost);
    if (context.phase !== 'body' || !context.implicitCommits?.length) return failure;
    return new RungateError(failure.code, `${failure.message} (but ${rolledBack(context)})`);
  }
  const message = scrub(error.sqlMessage ?? error.message ?? 'unknown error');
  if (error.errno === ER.STATEMENT_TIMEOUT || error.errno === ER.QUERY_TIMEOUT) {
    return new RungateError('TIMEOUT', `a statement exceeded the run's time limit of ${context.timeoutMs} ms and was interrupted by the server; ${rolledBack(context)}`);
  }
  if (error.errno === ER.QUERY_INTERRUPTED) {
    if (context.cancelled) return new RungateError('EXECUTION_FAILED', `the running statement was killed (KILL QUERY); ${rolledBack(context)}`);
    return new RungateError('EXECUTION_FAILED', `the server interrupted the statement (${message}); ${rolledBack(context)}`);
  }
  if (error.errno === ER.READ_ONLY_TRANSACTION && context.exploration) {
    return new RungateError('EXPLORATION_REFUSED', `explorations run in a read-only transaction: ${message}; nothing was written`);
  }
  if (error.errno === ER.LOCK_WAIT_TIMEOUT && context.exploration) {
    return new RungateError('EXECUTION_FAILED', `${message}: an exploration waits for a lock only briefly, so it never queues behind a write; the transaction was rolled back`);
  }
  if (error.errno === ER.READ_ONLY_TRANSACTION) {
    return new RungateError('EXECUTION_FAILED', `this runbook is @readonly, so it runs in a read-only transaction: ${message}; nothing was written`);
  }
  if (error.errno !== undefined) {
    const code = [error.code, error.errno].filter((part) => part !== undefined).join(' ');
    const state = error.sqlState ? `, SQLSTATE ${error.sqlState}` : '';
    return new RungateError('EXECUTION_FAILED', `${message} [${code}${state}]; ${rolledBack(context)}`);
  }
  return new RungateError('EXECUTION_FAILED', `the database client failed: ${message}; the transaction was not committed`);
}
