/**
 * The executor runs every body inside one transaction it opened itself, and that
 * transaction is what makes `@readonly`, dry runs and rollback-on-error true. A body that
 * ends it (COMMIT; …) would run its remaining statements outside those guarantees, so such
 * bodies are refused before anything runs. Savepoints stay allowed: they nest inside it.
 */

export interface TransactionControl {
  /** 1-based index of the statement in the body. */
  statement: number;
  /** The statement's leading words, e.g. `COMMIT` or `ROLLBACK PREPARED`. */
  command: string;
}

/** Leading words of statements that end, replace or hand off the executor's transaction. */
const ENDS_TRANSACTION = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'PREPARE']);
const SECOND_WORDS = new Set(['TRANSACTION', 'PREPARED', 'WORK']);
const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;

/** The first words of each statement, skipping comments and quoted text (SQL lexical rules). */
export function statementHeads(sql: string): string[][] {
  const statements: string[][] = [];
  let words: string[] = [];
  let depth = 0;
  let i = 0;
  const finish = () => {
    if (words.length > 0) statements.push(words);
    words = [];
    depth = 0;
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      let nesting = 1;
      i += 2;
      while (i < sql.length && nesting > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          nesting++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          nesting--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? '');
      i++;
      while (i < sql.length) {
        if (escapes && sql[i] === '\\') {
          i += 2;
        } else if (sql[i] === c) {
          if (sql[i + 1] === c) {
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          i++;
        }
      }
      words.push('…');
    } else if (c === '$' && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length;
        words.push('…');
      } else {
        i++;
      }
    } else if (c === ';' && depth === 0) {
      finish();
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      WORD.lastIndex = i;
      const word = WORD.exec(sql)?.[0] ?? c;
      const upper = word.toUpperCase();
      // SQL-standard function bodies (BEGIN ATOMIC … END) contain semicolons of their own.
      if (words[0] === 'CREATE' && (upper === 'CASE' || (upper === 'ATOMIC' && words[words.length - 1] === 'BEGIN'))) depth++;
      else if (words[0] === 'CREATE' && upper === 'END' && depth > 0) depth--;
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

/** Statements that would end the executor's transaction, in body order. */
export function transactionControl(sql: string): TransactionControl[] {
  const found: TransactionControl[] = [];
  statementHeads(sql).forEach((words, index) => {
    const [first = '', second = ''] = words;
    if (!ENDS_TRANSACTION.has(first)) return;
    if (first === 'ROLLBACK' && second === 'TO') return;
    if (first === 'START' && second !== 'TRANSACTION') return;
    if (first === 'PREPARE' && second !== 'TRANSACTION') return;
    found.push({ statement: index + 1, command: SECOND_WORDS.has(second) ? `${first} ${second}` : first });
  });
  return found;
}
