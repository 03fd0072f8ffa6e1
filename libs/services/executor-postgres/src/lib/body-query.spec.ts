import { BodyQuery, parseCommandTag } from './body-query';
import { sqlOutput } from './sql-output';
import { builtinTypes } from './sql-values';

function feed(query: BodyQuery, statements: { fields?: [string, number][]; rows?: (string | null)[][]; tag: string }[]): void {
  for (const statement of statements) {
    if (statement.fields) query.handleRowDescription({ fields: statement.fields.map(([name, dataTypeID]) => ({ name, dataTypeID, tableID: 0, columnID: 0 })) });
    for (const row of statement.rows ?? []) query.handleDataRow({ fields: row });
    query.handleCommandComplete({ text: statement.tag });
  }
  query.handleReadyForQuery();
}

describe('a body sent as one simple query', () => {
  it('reads command tags', () => {
    expect(parseCommandTag('INSERT 0 5')).toEqual({ command: 'INSERT', rowCount: 5 });
    expect(parseCommandTag('SELECT 3')).toEqual({ command: 'SELECT', rowCount: 3 });
    expect(parseCommandTag('CREATE TABLE')).toEqual({ command: 'CREATE TABLE', rowCount: null });
    expect(parseCommandTag('MERGE 2')).toEqual({ command: 'MERGE', rowCount: 2 });
    expect(parseCommandTag('SET')).toEqual({ command: 'SET', rowCount: null });
  });

  it('reports every statement and keeps the last result set', async () => {
    const query = new BodyQuery('…', { maxRows: 10, maxRawLength: 1000 });
    feed(query, [
      { fields: [['a', 23]], rows: [['1']], tag: 'SELECT 1' },
      { fields: [['id', 23]], rows: [['7'], ['8']], tag: 'UPDATE 2' },
      { tag: 'CREATE TABLE' },
    ]);
    const result = await query.done;
    expect(result.statements).toEqual([
      { command: 'SELECT', rowCount: 1 },
      { command: 'UPDATE', rowCount: 2 },
      { command: 'CREATE TABLE', rowCount: null },
    ]);
    expect(sqlOutput(result, builtinTypes(), 1000)).toEqual({
      kind: 'sql',
      columns: [{ name: 'id', type: 'int4' }],
      rows: [{ id: 7 }, { id: 8 }],
      rowCount: 2,
      statements: result.statements,
      truncated: false,
    });
  });

  it('keeps no more rows than the cap while still counting them all', async () => {
    const query = new BodyQuery('…', { maxRows: 2, maxRawLength: 1000 });
    feed(query, [{ fields: [['n', 23]], rows: [['1'], ['2'], ['3'], ['4']], tag: 'SELECT 4' }]);
    const result = await query.done;
    expect(result.resultSet).toMatchObject({ rows: [['1'], ['2']], total: 4, truncated: true });
    expect(sqlOutput(result, builtinTypes(), 1000)).toMatchObject({ rowCount: 4, truncated: true, rows: [{ n: 1 }, { n: 2 }] });
  });

  it('stops keeping text past its memory budget', async () => {
    const query = new BodyQuery('…', { maxRows: 100, maxRawLength: 25 });
    feed(query, [{ fields: [['t', 25]], rows: [['x'.repeat(10)], ['y'.repeat(10)], ['z'.repeat(10)]], tag: 'SELECT 3' }]);
    expect((await query.done).resultSet).toMatchObject({ total: 3, truncated: true, rows: [['x'.repeat(10)], ['y'.repeat(10)]] });
  });

  it('cuts rows at the byte cap on their JSON', () => {
    const rows = Array.from({ length: 10 }, (_, i) => [String(i)]);
    const output = sqlOutput({ statements: [], resultSet: { fields: [{ name: 'n', oid: 23, table: 0, column: 0 }], rows, total: 10, truncated: false } }, builtinTypes(), 25);
    expect(JSON.stringify(output.rows)).toBe('[{"n":0},{"n":1},{"n":2}]');
    expect(output.truncated).toBe(true);
  });

  it('answers a body without a result set with no columns', async () => {
    const query = new BodyQuery('…', { maxRows: 1, maxRawLength: 1 });
    query.handleEmptyQuery();
    query.handleReadyForQuery();
    expect(sqlOutput(await query.done, builtinTypes(), 10)).toEqual({ kind: 'sql', columns: [], rows: [], rowCount: 0, statements: [], truncated: false });
  });

  it('rejects with the server\'s error', async () => {
    const query = new BodyQuery('…', { maxRows: 1, maxRawLength: 1 });
    query.handleError(Object.assign(new Error('division by zero'), { code: '22012' }));
    await expect(query.done).rejects.toMatchObject({ code: '22012' });
  });
});
