import { statementHeads, transactionControl } from './transaction-control';

describe('transaction control in a runbook body', () => {
  it.each([
    ['COMMIT; DELETE FROM users', 'COMMIT'],
    ['update t set x = 1;\ncommit work;', 'COMMIT WORK'],
    ['BEGIN; UPDATE t SET x = 1', 'BEGIN'],
    ['start transaction read write', 'START TRANSACTION'],
    ['DELETE FROM t; ROLLBACK', 'ROLLBACK'],
    ['DELETE FROM t; ROLLBACK AND CHAIN', 'ROLLBACK'],
    ['END', 'END'],
    ['ABORT', 'ABORT'],
    ["PREPARE TRANSACTION 'x'", 'PREPARE TRANSACTION'],
    ["COMMIT PREPARED 'x'", 'COMMIT PREPARED'],
    ['/* a */ -- b\n  commit', 'COMMIT'],
  ])('finds it in %j', (body, command) => {
    expect(transactionControl(body)[0]?.command).toBe(command);
  });

  it.each([
    "SELECT 'COMMIT; ROLLBACK'",
    'SELECT "commit" FROM t',
    "SELECT E'it\\'s; COMMIT'",
    '-- COMMIT;\nSELECT 1',
    '/* outer /* COMMIT; */ still comment; */ SELECT 1',
    "DO $$ BEGIN PERFORM 1; COMMIT; END $$",
    "DO $fn$ BEGIN RAISE NOTICE 'x; commit'; END $fn$",
    'SAVEPOINT a; UPDATE t SET x = 1; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a',
    'ROLLBACK TO a',
    "PREPARE q AS SELECT 1; EXECUTE q",
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT f()',
    'SELECT begin_date, end_date FROM commits',
  ])('allows %j', (body) => {
    expect(transactionControl(body)).toEqual([]);
  });

  it('numbers statements as the body has them', () => {
    expect(transactionControl('SELECT 1; SELECT 2;\n\nCOMMIT; SELECT 3')).toEqual([{ statement: 3, command: 'COMMIT' }]);
    expect(statementHeads('SELECT 1;; ;SELECT $1')).toHaveLength(2);
  });
});
