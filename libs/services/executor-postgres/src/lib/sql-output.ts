import type { JsonValue, SqlOutput } from '@rungate/contracts';
import type { BodyResult } from './body-query';
import { convertValue, rowObject, uniqueColumnNames, type PgTypeInfo } from './sql-values';

/**
 * The reply for a body: every statement's command and row count, and the columns and rows
 * of the last statement that returned a result set. Rows stop before their JSON (an array
 * of row objects, as sent) would exceed `maxBytes`; `rowCount` counts every row the
 * statement returned, so `truncated` output still says how much there was.
 */
export function sqlOutput(result: BodyResult, types: ReadonlyMap<number, PgTypeInfo>, maxBytes: number): SqlOutput {
  const set = result.resultSet;
  if (!set) return { kind: 'sql', columns: [], rows: [], rowCount: 0, statements: result.statements, truncated: false };
  const names = uniqueColumnNames(set.fields.map((field) => field.name));
  const columns = set.fields.map((field, index) => ({ name: names[index] as string, type: types.get(field.oid)?.name ?? `oid ${field.oid}` }));
  const rows: Record<string, JsonValue>[] = [];
  let truncated = set.truncated;
  let bytes = 2;
  for (const raw of set.rows) {
    const row = rowObject(
      names,
      raw.map((value, index) => convertValue(value, set.fields[index]?.oid ?? 0, types)),
    );
    const size = Buffer.byteLength(JSON.stringify(row)) + (rows.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) {
      truncated = true;
      break;
    }
    rows.push(row);
    bytes += size;
  }
  return { kind: 'sql', columns, rows, rowCount: set.total, statements: result.statements, truncated };
}
