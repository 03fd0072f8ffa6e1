import { expandSqlKinds, type GuardrailMatch, type SqlStatementKind } from '@rungate/config';
import type { SqlParse } from './sql-parser';
import { summarizeStatements, type StatementSummary } from './sql-statements';

type SqlMatchConfig = NonNullable<GuardrailMatch['sql']>;

const LABEL: Record<SqlStatementKind, string> = {
  select: 'SELECT',
  insert: 'INSERT',
  update: 'UPDATE',
  delete: 'DELETE',
  merge: 'MERGE',
  create: 'CREATE',
  alter: 'ALTER',
  drop: 'DROP',
  truncate: 'TRUNCATE',
  comment: 'COMMENT',
  grant: 'GRANT',
  revoke: 'REVOKE',
  role: 'CREATE/ALTER/DROP ROLE',
  transaction: 'transaction control',
  set: 'SET/RESET',
  show: 'SHOW',
  discard: 'DISCARD',
  listen: 'LISTEN/UNLISTEN',
  notify: 'NOTIFY',
  copy: 'COPY',
  explain: 'EXPLAIN',
  do: 'DO',
  call: 'CALL',
  prepare: 'PREPARE',
  execute: 'EXECUTE',
  deallocate: 'DEALLOCATE',
  cursor: 'a cursor statement',
  lock: 'LOCK',
  vacuum: 'VACUUM',
  analyze: 'ANALYZE',
  cluster: 'CLUSTER',
  reindex: 'REINDEX',
  refresh: 'REFRESH MATERIALIZED VIEW',
  checkpoint: 'CHECKPOINT',
  load: 'LOAD',
  other: 'a statement no guardrail kind covers',
};

/** What a SQL guardrail found; `unreadable` when the body did not parse, which denies whatever the guardrail's action. */
export interface SqlViolation {
  detail: string;
  unreadable?: true;
}

/** How a statement kind is named in messages: `UPDATE`, `a cursor statement`. */
export function kindLabel(kind: SqlStatementKind): string {
  return LABEL[kind];
}

function at(statement: StatementSummary): string {
  return `statement ${statement.index} (line ${statement.line})`;
}

function kindViolation(statement: StatementSummary, isBad: (kind: SqlStatementKind) => boolean, why: string): string | undefined {
  if (isBad(statement.kind)) return `${at(statement)} is ${LABEL[statement.kind]}, ${why}`;
  const inner = statement.contains.find(isBad);
  return inner ? `${at(statement)} contains ${LABEL[inner]}, ${why}` : undefined;
}

function whereViolation(statement: StatementSummary): string | undefined {
  const write = statement.unrestricted[0];
  if (!write) return undefined;
  const clause = write.command === 'MERGE' ? 'ON condition' : 'WHERE';
  return write.missing
    ? `${at(statement)}: ${write.command} without a WHERE clause would change every row`
    : `${at(statement)}: ${write.command} whose ${clause} does not depend on the rows (like WHERE true) would change every row`;
}

/**
 * A guardrail over the statements PostgreSQL's own parser finds in the rendered body:
 * comments, quoting and dollar quotes cannot hide a statement from it. Parameters cannot
 * change what it finds either, since contextual escaping keeps every value a literal or a
 * quoted identifier. A body it cannot parse matches (fail closed).
 */
export function sqlMatcher(sql: SqlMatchConfig): (parse: SqlParse) => SqlViolation | undefined {
  const allowed = sql.statements ? expandSqlKinds(sql.statements) : undefined;
  const forbidden = sql.forbid ? expandSqlKinds(sql.forbid) : undefined;
  return (parse) => {
    if (!parse.ok) return { detail: `the body does not parse as PostgreSQL (${parse.problem}), so its statements cannot be checked`, unreadable: true };
    if (sql.maxStatements !== undefined && parse.statements.length > sql.maxStatements) {
      return { detail: `the body has ${parse.statements.length} statements, more than ${sql.maxStatements}` };
    }
    for (const statement of summarizeStatements(parse.statements)) {
      const detail =
        (allowed && kindViolation(statement, (kind) => !allowed.has(kind), `not one of: ${sql.statements?.join(', ')}`)) ||
        (forbidden && kindViolation(statement, (kind) => forbidden.has(kind), `which is forbidden (${sql.forbid?.join(', ')})`)) ||
        (sql.requireWhere ? whereViolation(statement) : undefined);
      if (detail) return { detail };
    }
    return undefined;
  };
}
