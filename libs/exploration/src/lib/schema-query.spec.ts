import { checkExploreMysql } from '@rungate/guardrails';
import { mysqlSchemaQuery } from './schema-query';

const MYSQL_QUOTINGS = [false, true].flatMap((noBackslashEscapes) => [false, true].map((ansiQuotes) => ({ noBackslashEscapes, ansiQuotes })));

describe('explore_schema on MySQL', () => {
  it.each([{}, { schema: 'shop' }, { table: 'orders' }, { schema: 'shop', table: 'orders' }])('builds a statement the MySQL exploration check accepts under every sql_mode: %j', (request) => {
    for (const quoting of MYSQL_QUOTINGS) expect(checkExploreMysql(mysqlSchemaQuery(request), quoting)).toEqual({ ok: true, kind: 'select' });
  });

  it('takes identifiers only, and looks a bare table up in the connection\'s database', () => {
    expect(() => mysqlSchemaQuery({ table: "x' OR '1" })).toThrow(/identifiers/);
    expect(mysqlSchemaQuery({ table: 'orders' })).toMatch(/c\.TABLE_SCHEMA = DATABASE\(\) AND c\.TABLE_NAME = 'orders'/);
    expect(mysqlSchemaQuery({ schema: 'shop' })).toMatch(/t\.TABLE_SCHEMA = 'shop'/);
  });
});
