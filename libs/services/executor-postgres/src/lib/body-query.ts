import type { Submittable } from 'pg';

/** The parts of pg's wire connection a custom query talks to (pg's Submittable protocol). */
interface WireConnection {
  query(text: string): void;
  sendCopyFail(message: string): void;
  parse(query: { text: string; name: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: unknown[]; binary: boolean; valueMapper: (value: unknown) => unknown }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
}

interface RowDescription {
  fields: { name: string; dataTypeID: number; tableID: number; columnID: number }[];
}

interface DataRow {
  fields: (string | null)[];
}

interface CommandComplete {
  text: string;
}

export interface StatementResult {
  command: string;
  rowCount: number | null;
}

/** The rows one statement returned, as the text PostgreSQL printed, kept within the caps. */
export interface RawResultSet {
  /** `table`/`column`: the table's OID and the column's number when the field is a plain table column, else 0. */
  fields: { name: string; oid: number; table: number; column: number }[];
  rows: (string | null)[][];
  /** Every row the statement returned, kept or not. */
  total: number;
  /** True when rows were left out by the row or byte cap. */
  truncated: boolean;
}

export interface BodyResult {
  statements: StatementResult[];
  /** The last statement that returned a result set (a SELECT, or a write with RETURNING). */
  resultSet?: RawResultSet;
}

export interface RowCaps {
  maxRows: number;
  /**
   * Characters of text kept before conversion. JSON conversion can shrink a value (jsonb loses its
   * spaces), so this is a multiple of the JSON cap applied afterwards; it bounds memory.
   */
  maxRawLength: number;
}

/** `INSERT 0 5` → INSERT, 5; `CREATE TABLE` → CREATE TABLE, null; `SELECT 3` → SELECT, 3. */
export function parseCommandTag(tag: string): StatementResult {
  const parts = tag.trim().split(' ');
  let end = parts.length;
  while (end > 1 && /^\d+$/.test(parts[end - 1] as string)) end--;
  const counts = parts.slice(end);
  return { command: parts.slice(0, end).join(' '), rowCount: counts.length > 0 ? Number(counts[counts.length - 1]) : null };
}

/**
 * One body sent with the simple query protocol, so a multi-statement runbook runs exactly as
 * written. Rows are kept as they stream in and only up to the caps: a runbook that selects
 * millions of rows costs the executor the caps' worth of memory, not the table's.
 */
export class BodyQuery implements Submittable {
  private readonly statements: StatementResult[] = [];
  private current?: RawResultSet;
  private currentLength = 0;
  private last?: RawResultSet;
  private settle?: { resolve: (result: BodyResult) => void; reject: (error: unknown) => void };
  readonly done: Promise<BodyResult>;

  constructor(
    protected readonly text: string,
    private readonly caps: RowCaps,
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  submit(connection: unknown): void {
    (connection as WireConnection).query(this.text);
  }

  handleRowDescription(message: RowDescription): void {
    this.current = {
      fields: message.fields.map((f) => ({ name: f.name, oid: f.dataTypeID, table: f.tableID, column: f.columnID })),
      rows: [],
      total: 0,
      truncated: false,
    };
    this.currentLength = 0;
  }

  handleDataRow(message: DataRow): void {
    const set = this.current;
    if (!set) return;
    set.total++;
    if (set.truncated) return;
    const length = message.fields.reduce((sum, value) => sum + (value === null ? 4 : value.length), 0);
    if (set.rows.length >= this.caps.maxRows || this.currentLength + length > this.caps.maxRawLength) {
      set.truncated = true;
      return;
    }
    set.rows.push(message.fields);
    this.currentLength += length;
  }

  handleCommandComplete(message: CommandComplete): void {
    this.statements.push(parseCommandTag(message.text));
    if (this.current) this.last = this.current;
    this.current = undefined;
  }

  handleEmptyQuery(): void {
    // An empty body (or only comments) runs nothing and reports no statement.
  }

  handlePortalSuspended(): void {
    // Portals belong to the extended protocol; a simple query never suspends one.
  }

  handleCopyInResponse(connection: unknown): void {
    (connection as WireConnection).sendCopyFail('COPY FROM STDIN has no input in a runbook');
  }

  handleCopyData(): void {
    // COPY TO STDOUT output is not part of the result; its command tag still counts the rows.
  }

  handleError(error: unknown): void {
    this.settle?.reject(error);
  }

  handleReadyForQuery(): void {
    this.settle?.resolve({ statements: this.statements, resultSet: this.last });
  }
}

/**
 * One statement over the extended query protocol, for explorations (ADR 19): the server itself
 * refuses a text holding more than one statement ("cannot insert multiple commands into a
 * prepared statement"), whatever policy's parser made of it. Rows stream and are capped as for
 * a body.
 */
export class SingleStatementQuery extends BodyQuery {
  override submit(connection: unknown): void {
    const wire = connection as WireConnection;
    wire.parse({ text: this.text, name: '', types: [] });
    wire.bind({ portal: '', statement: '', values: [], binary: false, valueMapper: (value) => value });
    wire.describe({ type: 'P', name: '' });
    wire.execute({ portal: '', rows: 0 });
    wire.sync();
  }

  handleParseComplete(): void {
    // The statement parsed; its rows follow.
  }

  handleBindComplete(): void {
    // No parameters: the portal is bound as parsed.
  }
}
