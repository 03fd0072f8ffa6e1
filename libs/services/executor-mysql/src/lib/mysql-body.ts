import type { JsonValue, SqlColumn, SqlOutput } from '@rungate/contracts';
import { RowBudget, rowObject, uniqueColumnNames } from '@rungate/executors';
import type { PoolConnection } from 'mysql2';
import type { StatementInfo } from './mysql-statements';
import { convertValue, mysqlTypeName, type MysqlField } from './mysql-values';

export interface RowCaps {
  maxRows: number;
  maxBytes: number;
  /** Name each column's source table column (masking's column rules); MySQL sends it with the fields. */
  sourceColumns?: boolean;
}

/** The database, table and column a field reads, when it is a plain table column. */
function sourceOf(field: MysqlField): SqlColumn['source'] {
  return field.orgTable && field.orgName ? { schema: field.db ?? '', table: field.orgTable, column: field.orgName } : undefined;
}

/** A failure of the body, with how many of its statements had finished before it. */
export class BodyFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly completed: number,
  ) {
    super('the body failed');
    this.name = 'BodyFailure';
  }
}

interface ResultSet {
  fields: MysqlField[];
  names: string[];
  budget: RowBudget;
  total: number;
}

/** What the server sends for a statement without a result set (mysql2's ResultSetHeader). */
interface OkPacket {
  affectedRows?: number;
}

/**
 * Sends the body as one COM_QUERY, exactly as reviewed (`multipleStatements`), and reads the
 * answers as they stream in: every statement's row count (affected rows, or rows returned),
 * and the rows of the last statement that returned a result set, converted and kept within
 * the caps. Rows past the caps are read and counted, never kept: a runbook that selects
 * millions of rows costs the executor the caps' worth of memory, not the table's.
 *
 * MySQL does not name its results, so each is labelled with the statement it answers, from
 * the executor's own reading of the body; a CALL's result sets belong to the CALL.
 */
export function runBody(connection: PoolConnection, body: string, statements: readonly StatementInfo[], caps: RowCaps): Promise<SqlOutput> {
  return new Promise((resolve, reject) => {
    const reported: SqlOutput['statements'] = [];
    let next = 0;
    let current: ResultSet | undefined;
    let last: ResultSet | undefined;
    let settled = false;
    const command = () => statements[next]?.command ?? 'STATEMENT';
    const endSet = () => {
      if (!current) return;
      if (command() !== 'CALL') {
        reported.push({ command: command(), rowCount: current.total });
        next++;
      }
      last = current;
      current = undefined;
    };
    const query = connection.query({ sql: body, rowsAsArray: true });
    query.on('fields', (fields: MysqlField[] | undefined) => {
      endSet();
      if (fields) current = { fields, names: uniqueColumnNames(fields.map((field) => field.name)), budget: new RowBudget(caps.maxRows, caps.maxBytes), total: 0 };
    });
    query.on('result', (result: unknown) => {
      if (Array.isArray(result)) {
        if (!current) return;
        current.total++;
        const set = current;
        if (set.budget.open) set.budget.offer(rowObject(set.names, result.map((value, index): JsonValue => convertValue(value, set.fields[index] as MysqlField))));
        return;
      }
      endSet();
      reported.push({ command: command(), rowCount: (result as OkPacket).affectedRows ?? null });
      next++;
    });
    query.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(new BodyFailure(error, reported.length));
    });
    query.on('end', () => {
      if (settled) return;
      settled = true;
      endSet();
      if (!last) {
        resolve({ kind: 'sql', columns: [], rows: [], rowCount: 0, statements: reported, truncated: false });
        return;
      }
      const set = last;
      const columns = set.fields.map((field, index): SqlColumn => {
        const source = caps.sourceColumns ? sourceOf(field) : undefined;
        return { name: set.names[index] as string, type: mysqlTypeName(field), ...(source ? { source } : {}) };
      });
      resolve({ kind: 'sql', columns, rows: set.budget.rows, rowCount: set.total, statements: reported, truncated: set.budget.truncated });
    });
  });
}
