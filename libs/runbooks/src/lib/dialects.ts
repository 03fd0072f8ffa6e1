/**
 * A `.sql` runbook may run on PostgreSQL and on MySQL connections (`@connection-types`), and
 * the same placeholder is escaped differently on each: rendering needs the dialect of the
 * connection it runs on. MySQL has four dialects here, one per combination of the sql_mode
 * flags that change quoting; lint does not know a connection's sql_mode, so it checks all four.
 */
import { mysqlQuotingOf, type ConnectionConfig } from '@rungate/config';
import type { ConnectionType, MysqlQuoting } from '@rungate/contracts';
import { lexSql, type LexResult } from './contexts';
import { MYSQL_QUOTINGS, lexMysql, mysqlLabel } from './mysql';

export type SqlDialect = { kind: 'postgres' } | { kind: 'mysql'; quoting: MysqlQuoting };

export const POSTGRES: SqlDialect = { kind: 'postgres' };

/**
 * How values are escaped on a connection: PostgreSQL's rules, or MySQL's for the sql_mode the
 * connection pins (the ticket names it, and executor-mysql runs the body only under it).
 */
export function sqlDialectOf(connection: ConnectionConfig): SqlDialect | undefined {
  if (connection.type === 'mysql') return { kind: 'mysql', quoting: mysqlQuotingOf(connection) };
  return connection.type === 'postgres' ? POSTGRES : undefined;
}

export function dialectKey(dialect: SqlDialect): string {
  return dialect.kind === 'postgres' ? 'postgres' : `mysql:${dialect.quoting.ansiQuotes ? 'A' : ''}${dialect.quoting.noBackslashEscapes ? 'N' : ''}`;
}

export function dialectLabel(dialect: SqlDialect): string {
  return dialect.kind === 'postgres' ? 'PostgreSQL' : mysqlLabel(dialect.quoting);
}

/** The dialects a SQL runbook is checked and compiled for; PostgreSQL when it names no SQL type. */
export function sqlDialectsFor(connectionTypes: readonly ConnectionType[]): SqlDialect[] {
  const dialects: SqlDialect[] = [];
  if (connectionTypes.includes('postgres')) dialects.push(POSTGRES);
  if (connectionTypes.includes('mysql')) dialects.push(...MYSQL_QUOTINGS.map((quoting): SqlDialect => ({ kind: 'mysql', quoting })));
  return dialects.length ? dialects : [POSTGRES];
}

export function lexSqlDialect(dialect: SqlDialect, text: string): LexResult {
  return dialect.kind === 'postgres' ? lexSql(text) : lexMysql(text, dialect.quoting);
}

/**
 * Which dialects a finding holds for, as a suffix: none when it holds for all, `MySQL` when
 * for every MySQL variant, else each variant's label.
 */
export function dialectSuffix(having: readonly SqlDialect[], all: readonly SqlDialect[]): string {
  if (having.length === all.length) return '';
  const mysql = having.filter((d) => d.kind === 'mysql');
  const labels = having.filter((d) => d.kind === 'postgres').map(dialectLabel);
  if (mysql.length === MYSQL_QUOTINGS.length) labels.push('MySQL');
  else labels.push(...mysql.map(dialectLabel));
  return ` (${labels.join('; ')})`;
}
