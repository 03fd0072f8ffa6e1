/**
 * What the executor must know about a body before it runs it on MySQL, read with MySQL's own
 * lexical rules: where each statement starts and what kind it is.
 *
 * - Transaction control (BEGIN, START TRANSACTION, COMMIT, ROLLBACK, XA, autocommit, LOCK
 *   TABLES) would end or replace the executor's transaction: refused, as on PostgreSQL.
 * - Session pins (sql_mode, the client character set, time_zone, the statement time limit)
 *   are what make parameter escaping and the server agree, and the time limit hold: a body
 *   may not change them (ADR 16).
 * - Statements that commit implicitly (DDL and a few others: MySQL cannot roll them back)
 *   are allowed in ordinary runs, but refused for a dry run and in @readonly runbooks, whose
 *   guarantees they would silently break.
 *
 * Executable comments (`/*! … *\/`, `/*M! … *\/`) are read as SQL: some server runs them.
 */
import type { MysqlQuoting } from '@rungate/contracts';

export type StatementKind = 'transaction-control' | 'session-pin' | 'implicit-commit' | 'ordinary';

export interface StatementInfo {
  /** 1-based position in the body. */
  index: number;
  /** `SELECT`, `UPDATE`, `CREATE TABLE`, `CREATE TEMPORARY TABLE`… */
  command: string;
  kind: StatementKind;
  /** For refusals: what the statement touches (`COMMIT`, `sql_mode`…). */
  what: string;
}

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;

/** The words of each statement (strings and quoted identifiers as `…`), split where MySQL splits them. */
export function statementWords(sql: string, quoting: MysqlQuoting): string[][] {
  const statements: string[][] = [];
  let words: string[] = [];
  let depth = 0;
  let executable = false;
  const finish = () => {
    if (words.length > 0) statements.push(words);
    words = [];
    depth = 0;
  };
  const storedProgram = () => words[0] === 'CREATE' && words.some((w) => w === 'PROCEDURE' || w === 'FUNCTION' || w === 'TRIGGER' || w === 'EVENT');
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    const afterDashes = sql.charCodeAt(i + 2);
    if (c === '#' || (c === '-' && next === '-' && (Number.isNaN(afterDashes) || afterDashes <= 0x20))) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      const bang = /^\/\*(?:M?!)(\d{5,6})?/i.exec(sql.slice(i, i + 12));
      if (bang && !executable) {
        executable = true;
        i += bang[0].length;
      } else {
        const end = sql.indexOf('*/', i + 2);
        i = end < 0 ? sql.length : end + 2;
      }
    } else if (c === '*' && next === '/' && executable) {
      executable = false;
      i += 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const backslashes = c !== '`' && !(c === '"' && quoting.ansiQuotes) && !quoting.noBackslashEscapes;
      i++;
      while (i < sql.length) {
        if (backslashes && sql[i] === '\\') i += 2;
        else if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      words.push('…');
    } else if (c === ';' && depth === 0) {
      finish();
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      WORD.lastIndex = i;
      const word = WORD.exec(sql)?.[0] ?? c;
      const upper = word.toUpperCase();
      // A stored program's body (BEGIN … END) holds semicolons of its own; CASE … END nests in it.
      if (storedProgram() && (upper === 'BEGIN' || (upper === 'CASE' && depth > 0))) depth++;
      else if (storedProgram() && upper === 'END' && depth > 0) {
        const following = /\s*([A-Za-z]+)/y.exec(sql.slice(i + word.length))?.[1]?.toUpperCase();
        if (!['IF', 'LOOP', 'WHILE', 'REPEAT'].includes(following ?? '')) depth--;
      }
      words.push(upper);
      i += word.length;
    } else {
      if (!/\s/.test(c)) words.push(c);
      i++;
    }
  }
  finish();
  return statements;
}

/** Objects whose name the command label includes: `CREATE TABLE`, `DROP INDEX`. */
const OBJECTS = new Set(['TABLE', 'TABLES', 'INDEX', 'VIEW', 'DATABASE', 'SCHEMA', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'USER', 'ROLE', 'SERVER', 'TABLESPACE', 'SEQUENCE']);
const WITH_OBJECT = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'LOCK', 'UNLOCK']);

/** First words that commit the transaction implicitly (MySQL 8.0 manual 15.3.3, MariaDB alike). */
const IMPLICIT_COMMIT = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'GRANT', 'REVOKE', 'ANALYZE', 'OPTIMIZE', 'REPAIR', 'CHECK', 'CACHE', 'FLUSH', 'RESET', 'INSTALL', 'UNINSTALL', 'CHANGE', 'IMPORT']);
/** Variables a body may not set: quoting, character set, time zone, time limits, transactions. */
const PINNED = new Map([
  ['SQL_MODE', 'sql_mode'],
  ['NAMES', 'the client character set (SET NAMES)'],
  ['CHARSET', 'the client character set (SET CHARSET)'],
  ['CHARACTER', 'the client character set (SET CHARACTER SET)'],
  ['CHARACTER_SET_CLIENT', 'character_set_client'],
  ['CHARACTER_SET_CONNECTION', 'character_set_connection'],
  ['CHARACTER_SET_RESULTS', 'character_set_results'],
  ['COLLATION_CONNECTION', 'collation_connection'],
  ['TIME_ZONE', 'time_zone'],
  ['MAX_STATEMENT_TIME', 'max_statement_time'],
  ['MAX_EXECUTION_TIME', 'max_execution_time'],
  ['LOCK_WAIT_TIMEOUT', 'lock_wait_timeout'],
  ['INNODB_LOCK_WAIT_TIMEOUT', 'innodb_lock_wait_timeout'],
  ['WAIT_TIMEOUT', 'wait_timeout'],
]);

function classify(words: string[]): { kind: StatementKind; what: string } {
  const [first = '', second = '', third = ''] = words;
  if (first === 'BEGIN' || first === 'COMMIT' || first === 'XA') return { kind: 'transaction-control', what: first };
  if (first === 'START' && second === 'TRANSACTION') return { kind: 'transaction-control', what: 'START TRANSACTION' };
  if (first === 'ROLLBACK' && !(second === 'TO' || (second === 'WORK' && third === 'TO'))) return { kind: 'transaction-control', what: 'ROLLBACK' };
  if ((first === 'LOCK' || first === 'UNLOCK') && (second === 'TABLES' || second === 'TABLE')) return { kind: 'transaction-control', what: `${first} ${second}` };
  if (first === 'SET') {
    if (words.includes('AUTOCOMMIT')) return { kind: 'transaction-control', what: 'autocommit' };
    if (second === 'PASSWORD') return { kind: 'implicit-commit', what: 'SET PASSWORD' };
    // `@names` is a user variable; `@@names`, `SESSION names` and `names` are the system's.
    const pinned = words.find((word, j) => PINNED.has(word) && !(words[j - 1] === '@' && words[j - 2] !== '@'));
    if (pinned) return { kind: 'session-pin', what: PINNED.get(pinned) as string };
  }
  if (IMPLICIT_COMMIT.has(first)) {
    // Temporary tables are created and dropped inside the transaction.
    if ((first === 'CREATE' || first === 'DROP') && second === 'TEMPORARY') return { kind: 'ordinary', what: '' };
    if (first === 'CHECK' && second !== 'TABLE') return { kind: 'ordinary', what: '' };
    if (first === 'CACHE' && second !== 'INDEX') return { kind: 'ordinary', what: '' };
    return { kind: 'implicit-commit', what: first };
  }
  if (first === 'LOAD' && second === 'INDEX') return { kind: 'implicit-commit', what: 'LOAD INDEX' };
  if ((first === 'START' || first === 'STOP') && (second === 'SLAVE' || second === 'REPLICA')) return { kind: 'implicit-commit', what: `${first} ${second}` };
  return { kind: 'ordinary', what: '' };
}

function commandOf(words: string[]): string {
  const [first = 'STATEMENT'] = words;
  if (!WITH_OBJECT.has(first)) return first;
  const head = words.slice(1, 8);
  const object = head.findIndex((word) => OBJECTS.has(word));
  if (object < 0) return first;
  return [first, ...(head[object - 1] === 'TEMPORARY' ? ['TEMPORARY'] : []), head[object] as string].join(' ');
}

/** Every statement of the body, in order, with what kind of statement it is. */
export function mysqlStatements(sql: string, quoting: MysqlQuoting): StatementInfo[] {
  return statementWords(sql, quoting).map((words, index) => ({ index: index + 1, command: commandOf(words), ...classify(words) }));
}
