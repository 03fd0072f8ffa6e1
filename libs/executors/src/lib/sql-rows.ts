import type { JsonValue } from '@rungate/contracts';

/** Repeated column names (`SELECT 1, 2` gives two `?column?`) get `_2`, `_3`… so no value is lost. */
export function uniqueColumnNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    let candidate = name;
    for (let n = 2; taken.has(candidate); n++) candidate = `${name}_${n}`;
    taken.add(candidate);
    return candidate;
  });
}

/** A row as a JSON object; defineProperty keeps a column named `__proto__` an ordinary key. */
export function rowObject(names: readonly string[], values: readonly JsonValue[]): Record<string, JsonValue> {
  const row: Record<string, JsonValue> = {};
  names.forEach((name, index) => {
    Object.defineProperty(row, name, { value: values[index] ?? null, enumerable: true, writable: true, configurable: true });
  });
  return row;
}

/**
 * The rows of a SQL result that fit a run's caps: at most `maxRows`, and their JSON (an array
 * of row objects, as the reply carries it) at most `maxBytes`. Rows are offered in order; the
 * first that does not fit ends the kept part and sets `truncated`.
 */
export class RowBudget {
  readonly rows: Record<string, JsonValue>[] = [];
  truncated = false;
  private bytes = 2;

  constructor(
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {}

  /** Whether another row could still be kept (callers skip converting rows that cannot). */
  get open(): boolean {
    return !this.truncated;
  }

  offer(row: Record<string, JsonValue>): boolean {
    if (this.truncated) return false;
    const size = Buffer.byteLength(JSON.stringify(row)) + (this.rows.length > 0 ? 1 : 0);
    if (this.rows.length >= this.maxRows || this.bytes + size > this.maxBytes) {
      this.truncated = true;
      return false;
    }
    this.rows.push(row);
    this.bytes += size;
    return true;
  }
}
