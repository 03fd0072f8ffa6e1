/** One statement as PostgreSQL's parser sees it: its node (`{ DeleteStmt: {...} }`) and where it starts. */
export interface ParsedStatement {
  node: unknown;
  /** 1-based line of the statement's first character in the body. */
  line: number;
}

export type SqlParse = { ok: true; statements: ParsedStatement[] } | { ok: false; problem: string };

/** One lexical token as PostgreSQL's scanner sees it; offsets count bytes of UTF-8, like statement locations. */
export interface SqlToken {
  start: number;
  end: number;
  text: string;
  /** The grammar's token name: `SCONST`, `ICONST`, `FCONST`, `IDENT`, `SQL_COMMENT`, … (keywords are `UNKNOWN`). */
  tokenName: string;
}

/**
 * What guardrails and explorations need from a SQL parser: the statements of a body (or why
 * there are none), its tokens, and its fingerprint — the same for statements that differ only
 * in their constants (`id = 1` and `id = 2`), so repeated explorations can be counted.
 */
export interface SqlParser {
  parse(sql: string): SqlParse;
  /** undefined when the text does not lex. */
  scan(sql: string): SqlToken[] | undefined;
  /** undefined when the text does not parse. */
  fingerprint(sql: string): string | undefined;
}

interface LibpgQuery {
  loadModule(): Promise<void>;
  parseSync(sql: string): { stmts?: { stmt?: unknown; stmt_location?: number }[] };
  scanSync(sql: string): { tokens: SqlToken[] };
  fingerprintSync(sql: string): string;
}

interface LibpgError extends Error {
  sqlDetails?: { cursorPosition?: number };
}

function positionIn(before: string): { line: number; column: number } {
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/** Statement locations count bytes of UTF-8; JavaScript strings count UTF-16 units. */
function lineOfByte(sql: string, byteOffset: number): number {
  return positionIn(Buffer.from(sql, 'utf8').subarray(0, byteOffset).toString('utf8')).line;
}

/**
 * The parser's own message without the token it quotes ("at or near …"): the position says
 * where, and the body's text stays out of the agent's answer and the audit trail.
 */
function describeSyntaxError(sql: string, error: LibpgError): string {
  const reason = error.message.replace(/ at or near .*$/s, '').replace(/ at end of input$/, '') || 'syntax error';
  const offset = error.sqlDetails?.cursorPosition;
  if (offset === undefined || offset < 0) return reason;
  // Unlike statement locations, libpg-query reports an error's position in characters.
  const { line, column } = positionIn(sql.slice(0, offset));
  return `${reason} at line ${line}, column ${column}`;
}

class LibpgQueryParser implements SqlParser {
  constructor(private readonly pg: LibpgQuery) {}

  parse(sql: string): SqlParse {
    // libpg-query refuses an empty string; PostgreSQL runs it as no statement at all.
    if (sql.trim() === '') return { ok: true, statements: [] };
    try {
      const result = this.pg.parseSync(sql);
      return {
        ok: true,
        statements: (result.stmts ?? []).map((raw) => ({ node: raw.stmt, line: lineOfByte(sql, raw.stmt_location ?? 0) })),
      };
    } catch (error) {
      return { ok: false, problem: describeSyntaxError(sql, error as LibpgError) };
    }
  }

  scan(sql: string): SqlToken[] | undefined {
    try {
      return this.pg.scanSync(sql).tokens.map(({ start, end, text, tokenName }) => ({ start, end, text, tokenName }));
    } catch {
      return undefined;
    }
  }

  fingerprint(sql: string): string | undefined {
    if (sql.trim() === '') return undefined;
    try {
      return this.pg.fingerprintSync(sql);
    } catch {
      return undefined;
    }
  }
}

let loading: Promise<SqlParser> | undefined;

/**
 * PostgreSQL's own parser (libpg-query, compiled to WebAssembly). The module compiles
 * asynchronously, so services load it once at start-up and parse synchronously afterwards;
 * it is required only here, so processes that never check SQL (executors) never load it.
 */
export function loadSqlParser(): Promise<SqlParser> {
  loading ??= import('libpg-query').then(async (pg: LibpgQuery) => {
    await pg.loadModule();
    return new LibpgQueryParser(pg);
  });
  return loading;
}
