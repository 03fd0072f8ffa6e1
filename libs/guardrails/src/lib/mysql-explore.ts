import { createHash } from 'node:crypto';
import type { MysqlQuoting } from '@rungate/contracts';
import type { ExploreCheck, ExploreStatementKind } from './sql-explore';

/**
 * The statement check of a MySQL/MariaDB exploration (ADR 19): there is no MySQL parser in
 * the tree, so this reads the statement with MySQL's own lexical rules — the connection's
 * quoting (backslash escapes or NO_BACKSLASH_ESCAPES, ANSI_QUOTES), backticks, `#`, `-- ` and
 * `/* *\/` comments — and decides on its tokens, conservatively: what it cannot prove a read
 * is refused. Keywords inside strings and quoted identifiers do not count; refused words
 * cannot hide in comments because comments are dropped exactly where the server drops them,
 * and the comments the server does *not* drop (`/*! … *\/`, `/*M! … *\/`, optimizer hints
 * `/*+ … *\/`) are refused outright.
 *
 * It is the first of three defences: the executor runs what it accepts in `START TRANSACTION
 * READ ONLY` (which refuses writes to tables whatever was checked here), one statement per
 * call on a connection without multi-statements, with the server's time limit, and rolls it
 * back; the connection's account should hold SELECT and SHOW VIEW only (README: Exploration).
 */

export type MysqlTokenKind = 'word' | 'string' | 'identifier' | 'variable' | 'symbol';

export interface MysqlToken {
  kind: MysqlTokenKind;
  /** Words uppercased; strings and identifiers as their content, unescaped; symbols as written. */
  text: string;
}

export type MysqlLex = { ok: true; tokens: MysqlToken[] } | { ok: false; problem: string };

const WORD_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

/** MySQL reads `--` as a comment only before whitespace or a control character (or the end). */
function dashComment(sql: string, i: number): boolean {
  if (sql[i] !== '-' || sql[i + 1] !== '-') return false;
  const after = sql.charCodeAt(i + 2);
  return Number.isNaN(after) || after <= 0x20;
}

/** The end (index after the closing quote) and content of a quoted run starting at `start`, or undefined if it never closes. */
function quoted(sql: string, start: number, backslashes: boolean): { end: number; content: string } | undefined {
  const quote = sql[start] as string;
  let content = '';
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (backslashes && c === '\\') {
      if (i + 1 >= sql.length) return undefined;
      content += sql[i + 1];
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) {
        content += quote;
        i += 2;
      } else return { end: i + 1, content };
    } else {
      content += c;
      i++;
    }
  }
  return undefined;
}

/**
 * The tokens of a MySQL text as the server reads it under this quoting; comments dropped.
 * Fails on what the server would run that is not plain SQL (executable comments, optimizer
 * hints) and on text that does not end where it began (an unterminated string or comment).
 */
export function lexMysqlTokens(sql: string, quoting: MysqlQuoting): MysqlLex {
  const tokens: MysqlToken[] = [];
  const backslashes = !quoting.noBackslashEscapes;
  // Servers differ on whether a NUL ends the statement; no read needs one.
  if (sql.includes('\0')) return { ok: false, problem: 'a NUL character' };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || dashComment(sql, i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      const mark = sql[i + 2];
      if (mark === '!' || ((mark === 'M' || mark === 'm') && sql[i + 3] === '!')) {
        return { ok: false, problem: 'an executable comment (/*! … */ or /*M! … */): the server runs its content as SQL, depending on its version' };
      }
      if (mark === '+') return { ok: false, problem: 'an optimizer hint (/*+ … */): MySQL reads it, and a hint can change the statement\'s time limit or session variables' };
      // MySQL block comments do not nest: the first */ ends them.
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return { ok: false, problem: 'a /* comment that never ends' };
      i = end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const identifier = c === '`' || (c === '"' && quoting.ansiQuotes);
      const run = quoted(sql, i, backslashes && !identifier);
      if (!run) return { ok: false, problem: `a ${identifier ? 'quoted identifier' : 'string'} that never ends (${c}…)` };
      tokens.push({ kind: identifier ? 'identifier' : 'string', text: run.content });
      i = run.end;
    } else if (c === '@') {
      // @name, @'name', @"name", @`name` (user variables); @@name, @@session.name (system variables).
      let j = i + 1;
      if (sql[j] === '@') j++;
      const q = sql[j];
      if (q === "'" || q === '"' || q === '`') {
        const run = quoted(sql, j, backslashes && q !== '`');
        if (!run) return { ok: false, problem: 'a quoted variable name that never ends' };
        j = run.end;
      } else {
        while (j < sql.length && (WORD_CHAR.test(sql[j] as string) || sql[j] === '.')) j++;
      }
      tokens.push({ kind: 'variable', text: sql.slice(i, j) });
      i = j;
    } else if (WORD_CHAR.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_CHAR.test(sql[j] as string)) j++;
      tokens.push({ kind: 'word', text: sql.slice(i, j).toUpperCase() });
      i = j;
    } else if (c === ':' && next === '=') {
      tokens.push({ kind: 'symbol', text: ':=' });
      i += 2;
    } else {
      tokens.push({ kind: 'symbol', text: c });
      i++;
    }
  }
  return { ok: true, tokens };
}

const ALLOWED = 'explore_sql runs exactly one read-only statement on MySQL: SELECT, WITH … SELECT, SHOW, EXPLAIN or DESCRIBE';

/** How a statement may begin. */
const FIRST_WORDS: ReadonlyMap<string, ExploreStatementKind> = new Map([
  ['SELECT', 'select'],
  ['WITH', 'select'],
  ['SHOW', 'show'],
  ['EXPLAIN', 'explain'],
  ['DESCRIBE', 'explain'],
  ['DESC', 'explain'],
]);

/**
 * Reserved words that begin or belong to statements other than reads (or make a read write,
 * lock or leave the database), refused wherever they stand outside quotes. Reserved, so no
 * read uses them as bare names: a column called `update` is written with backticks.
 */
const REFUSED_WORDS: ReadonlyMap<string, string> = new Map([
  ['INSERT', 'INSERT writes'],
  ['UPDATE', 'UPDATE writes'],
  ['DELETE', 'DELETE writes'],
  ['REPLACE', 'REPLACE writes'],
  ['CREATE', 'CREATE changes the schema'],
  ['DROP', 'DROP changes the schema'],
  ['ALTER', 'ALTER changes the schema'],
  ['RENAME', 'RENAME changes the schema'],
  ['GRANT', 'GRANT changes privileges'],
  ['REVOKE', 'REVOKE changes privileges'],
  ['LOAD', 'LOAD reads files into tables'],
  ['CALL', 'CALL runs a stored procedure, which no check of this statement can see into'],
  ['SET', 'SET changes variables (or rows)'],
  ['LOCK', 'LOCK takes locks (LOCK IN SHARE MODE, LOCK TABLES)'],
  ['UNLOCK', 'UNLOCK releases locks'],
  ['KILL', 'KILL stops other sessions'],
  ['RELEASE', 'RELEASE ends a savepoint or a session'],
  ['INTO', 'SELECT … INTO writes a file (OUTFILE, DUMPFILE) or variables'],
  ['OUTFILE', 'INTO OUTFILE writes a file on the server'],
  ['DUMPFILE', 'INTO DUMPFILE writes a file on the server'],
  ['PROCEDURE', 'SELECT … PROCEDURE runs a procedure over the result'],
  ['SIGNAL', 'SIGNAL belongs to stored programs'],
  ['RESIGNAL', 'RESIGNAL belongs to stored programs'],
  ['ANALYZE', 'ANALYZE runs the statement it analyzes (or updates table statistics)'],
  ['OPTIMIZE', 'OPTIMIZE rebuilds tables'],
  ['PURGE', 'PURGE deletes binary logs'],
  ['CHANGE', 'CHANGE reconfigures replication'],
]);

/** Words of the string functions that share a name with a statement: `INSERT(str, …)`, `REPLACE(str, …)`. */
const FUNCTIONS_NAMED_LIKE_STATEMENTS = new Set(['INSERT', 'REPLACE']);

/** Words a SHOW statement uses for what it shows: `SHOW CREATE TABLE`, `SHOW PROCEDURE STATUS`. */
const SHOW_WORDS = new Set(['CREATE', 'PROCEDURE']);

/**
 * Functions an exploration may not call, however they are written (`SLEEP(1)`, `` `sleep`(1) ``,
 * `db.sleep(1)`): they read files, take or wait for locks, wait or burn time, advance
 * sequences, or run commands (the lib_mysqludf_sys functions). A READ ONLY transaction stops
 * none of them but the sequences; the time limit stops the waiting ones late.
 */
const REFUSED_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['LOAD_FILE', 'reads a file on the server'],
  ['GET_LOCK', 'takes a named lock other sessions wait for'],
  ['RELEASE_LOCK', 'releases a named lock'],
  ['RELEASE_ALL_LOCKS', 'releases named locks'],
  ['IS_FREE_LOCK', 'probes named locks'],
  ['IS_USED_LOCK', 'probes named locks'],
  ['SLEEP', 'holds the connection without reading anything'],
  ['BENCHMARK', 'burns server time without reading anything'],
  ['MASTER_POS_WAIT', 'waits for replication'],
  ['SOURCE_POS_WAIT', 'waits for replication'],
  ['MASTER_GTID_WAIT', 'waits for replication'],
  ['WAIT_FOR_EXECUTED_GTID_SET', 'waits for replication'],
  ['WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS', 'waits for replication'],
  ['NEXTVAL', 'advances a sequence'],
  ['SETVAL', 'sets a sequence'],
  ['DES_ENCRYPT', 'reads the server\'s DES key file'],
  ['DES_DECRYPT', 'reads the server\'s DES key file'],
  ['SYS_EXEC', 'runs a command on the server'],
  ['SYS_EVAL', 'runs a command on the server'],
  ['SYS_GET', 'reads the server\'s environment'],
  ['SYS_SET', 'changes the server\'s environment'],
]);

function refuse(reason: string): ExploreCheck {
  return { ok: false, reason };
}

/** The statements of a token list, split at `;` (empty ones dropped: a trailing `;` is fine). */
function statements(tokens: readonly MysqlToken[]): MysqlToken[][] {
  const out: MysqlToken[][] = [[]];
  for (const token of tokens) {
    if (token.kind === 'symbol' && token.text === ';') out.push([]);
    else (out[out.length - 1] as MysqlToken[]).push(token);
  }
  return out.filter((statement) => statement.length > 0);
}

/** EXPLAIN and DESCRIBE: of a read (SELECT, WITH, a parenthesized query, TABLE), or of a table's columns. */
function explainProblem(tokens: readonly MysqlToken[]): string | undefined {
  let i = 1;
  const word = (at: number) => (tokens[at]?.kind === 'word' ? tokens[at]?.text : undefined);
  while (word(i) === 'EXTENDED' || word(i) === 'PARTITIONS' || word(i) === 'FORMAT') {
    if (word(i) === 'FORMAT') {
      if (tokens[i + 1]?.text !== '=' || !['TRADITIONAL', 'JSON', 'TREE'].includes(word(i + 2) ?? '')) return 'EXPLAIN FORMAT takes TRADITIONAL, JSON or TREE';
      i += 3;
    } else i++;
  }
  const head = tokens[i];
  if (!head) return 'EXPLAIN of nothing';
  if (head.kind === 'word' && ['SELECT', 'WITH', 'TABLE'].includes(head.text)) return undefined;
  if (head.kind === 'symbol' && head.text === '(') return undefined;
  if (head.kind === 'word' && head.text === 'FOR') return "EXPLAIN FOR CONNECTION reads another session's statement";
  // DESCRIBE t [column | 'pattern']: a (qualified) name, then at most one name or pattern.
  const names = tokens.slice(i);
  const shape = names.map((t) => (t.kind === 'symbol' ? t.text : 'n')).join('');
  if (/^n(\.n)?n?$/.test(shape)) return undefined;
  return `EXPLAIN or DESCRIBE here explains only a read (SELECT, WITH … SELECT) or describes a table`;
}

/**
 * Whether a SQL text is one read-only statement an exploration may run on MySQL or MariaDB
 * (ADR 19), read under the connection's quoting. Conservative by design: a read it cannot
 * tell from something else is refused, with what to write instead.
 */
export function checkExploreMysql(sql: string, quoting: MysqlQuoting): ExploreCheck {
  const lexed = lexMysqlTokens(sql, quoting);
  if (!lexed.ok) return refuse(`the statement has ${lexed.problem}; ${ALLOWED}, without it`);
  const found = statements(lexed.tokens);
  if (found.length === 0) return refuse(`there is no statement to run; ${ALLOWED}`);
  if (found.length > 1) return refuse(`${found.length} statements were sent; ${ALLOWED}, so send them one call each`);
  const tokens = found[0] as MysqlToken[];
  const first = tokens[0] as MysqlToken;
  const kind = first.kind === 'symbol' && first.text === '(' ? 'select' : first.kind === 'word' ? FIRST_WORDS.get(first.text) : undefined;
  if (kind === undefined) return refuse(`the statement starts with ${first.kind === 'word' ? first.text : `"${first.text}"`}; ${ALLOWED}`);
  if (kind === 'explain') {
    const problem = explainProblem(tokens);
    if (problem) return refuse(problem);
  }
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as MysqlToken;
    const before = tokens[i - 1];
    const after = tokens[i + 1];
    const called = after?.kind === 'symbol' && after.text === '(';
    if (token.kind === 'symbol' && token.text === ':=') return refuse('":=" assigns a user variable; explorations only read');
    if ((token.kind === 'word' || token.kind === 'identifier') && REFUSED_FUNCTIONS.has(token.text.toUpperCase()) && (token.kind === 'word' || called)) {
      const name = token.text.toUpperCase();
      return refuse(`function ${name} ${REFUSED_FUNCTIONS.get(name)}, so explorations may not call it (a column of that name is written with backticks)`);
    }
    if (token.kind !== 'word') continue;
    if (token.text === 'FOR' && after?.kind === 'word' && (after.text === 'UPDATE' || after.text === 'SHARE')) return refuse(`FOR ${after.text} takes row locks; explorations only read`);
    if (token.text === 'NEXT' && after?.kind === 'word' && after.text === 'VALUE') return refuse('NEXT VALUE FOR advances a sequence; explorations only read');
    if (token.text === 'SET' && before?.kind === 'word' && before.text === 'CHARACTER') continue;
    if (FUNCTIONS_NAMED_LIKE_STATEMENTS.has(token.text) && called) continue;
    if (kind === 'show' && SHOW_WORDS.has(token.text)) continue;
    const why = REFUSED_WORDS.get(token.text);
    if (why) return refuse(`the statement contains ${token.text}: ${why}; ${ALLOWED} (a name spelt like a reserved word is written with backticks)`);
  }
  return { ok: true, kind };
}

/**
 * The fingerprint of a MySQL statement for the backlog (ADR 19): its tokens with every string
 * and number replaced by `?`, so statements that differ only in their constants share one.
 */
export function mysqlFingerprint(sql: string, quoting: MysqlQuoting): string | undefined {
  const lexed = lexMysqlTokens(sql, quoting);
  if (!lexed.ok) return undefined;
  const shape = lexed.tokens
    .filter((token) => !(token.kind === 'symbol' && token.text === ';'))
    .map((token) => (token.kind === 'string' || (token.kind === 'word' && /^[0-9]/.test(token.text)) ? '?' : token.kind === 'identifier' ? `\`${token.text}\`` : token.text))
    .join(' ');
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}
