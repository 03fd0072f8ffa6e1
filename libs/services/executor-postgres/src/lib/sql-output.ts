import type { SqlColumn, SqlOutput } from '@rungate/contracts';
import { RowBudget, rowObject, uniqueColumnNames } from '@rungate/executors';
import type { BodyResult } from './body-query';
import { convertValue, type PgTypeInfo } from './sql-values';

/**
 * The reply for a body: every statement's command and row count, and the columns and rows
 * of the last statement that returned a result set. Rows stop before their JSON (an array
 * of row objects, as sent) would exceed `maxBytes`; `rowCount` counts every row the
 * statement returned, so `truncated` output still says how much there was.
 */
export function sqlOutput(
  result: BodyResult,
  types: ReadonlyMap<number, PgTypeInfo>,
  maxBytes: number,
  sources: readonly (SqlColumn['source'] | undefined)[] = [],
): SqlOutput {
  const set = result.resultSet;
  if (!set) return { kind: 'sql', columns: [], rows: [], rowCount: 0, statements: result.statements, truncated: false };
  const names = uniqueColumnNames(set.fields.map((field) => field.name));
  const columns = set.fields.map((field, index): SqlColumn => {
    const source = sources[index];
    return { name: names[index] as string, type: types.get(field.oid)?.name ?? `oid ${field.oid}`, ...(source ? { source } : {}) };
  });
  // The row cap was applied while the rows streamed in; the byte cap needs the converted JSON.
  const budget = new RowBudget(Number.POSITIVE_INFINITY, maxBytes);
  for (const raw of set.rows) {
    const row = rowObject(
      names,
      raw.map((value, index) => convertValue(value, set.fields[index]?.oid ?? 0, types)),
    );
    if (!budget.offer(row)) break;
  }
  return { kind: 'sql', columns, rows: budget.rows, rowCount: set.total, statements: result.statements, truncated: set.truncated || budget.truncated };
}
