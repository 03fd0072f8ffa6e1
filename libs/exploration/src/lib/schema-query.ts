import { InternalError } from '@rungate/contracts';

/** A schema or table name as `explore_schema` takes it: an identifier, nothing to escape from. */
export const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export interface SchemaRequest {
  schema?: string;
  table?: string;
}

function literal(name: string): string {
  // SCHEMA_NAME admits no quote, so doubling one is a second guarantee, not the first.
  return `'${name.replace(/'/g, "''")}'`;
}

/** Objects a caller may read are what matters: with a read-only role, only those it was granted. */
const READABLE = "pg_catalog.has_table_privilege(c.oid, 'SELECT')";
const USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/**
 * The one read-only statement `explore_schema` runs (ADR 19): without a table, the schemas'
 * tables, views and materialized views with their row estimates; with one, its columns
 * (type, nullability, default) and indexes. Policy builds it from validated names and checks it
 * like any explored statement; the executor runs it under the same read-only regime.
 */
export function schemaQuery(request: SchemaRequest): string {
  for (const name of [request.schema, request.table]) {
    if (name !== undefined && !SCHEMA_NAME.test(name)) throw new InternalError('schema and table are identifiers');
  }
  if (request.table === undefined) {
    const schema = request.schema === undefined ? USER_SCHEMAS : `n.nspname = ${literal(request.schema)}`;
    return `SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS row_estimate,
       pg_catalog.obj_description(c.oid, 'pg_class') AS comment
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${schema} AND ${READABLE}
 ORDER BY 1, 2`;
  }
  const where =
    request.schema === undefined
      ? `c.relname = ${literal(request.table)} AND pg_catalog.pg_table_is_visible(c.oid)`
      : `c.relname = ${literal(request.table)} AND n.nspname = ${literal(request.schema)}`;
  return `WITH t AS (
  SELECT c.oid, c.reltuples FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${where} AND ${READABLE}
)
SELECT 'column' AS part, a.attnum::int AS position, a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS detail,
       CASE WHEN t.reltuples < 0 THEN NULL ELSE t.reltuples::bigint END AS row_estimate
  FROM t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', NULL, i.relname, NULL, NULL, pg_catalog.pg_get_indexdef(x.indexrelid), NULL
  FROM t JOIN pg_catalog.pg_index x ON x.indrelid = t.oid JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
 ORDER BY 1, 2, 3`;
}

const MYSQL_SYSTEM_SCHEMAS = "'mysql', 'information_schema', 'performance_schema', 'sys'";

/**
 * `explore_schema` on MySQL and MariaDB: the same two answers from information_schema, which
 * shows an account only the objects it holds a privilege on. Without a schema, a table is
 * looked up in the connection's database (`DATABASE()`). Backticks for the aliases that are
 * reserved words; only `'…'` strings and no backslash, so it reads alike under every sql_mode.
 */
export function mysqlSchemaQuery(request: SchemaRequest): string {
  for (const name of [request.schema, request.table]) {
    if (name !== undefined && !SCHEMA_NAME.test(name)) throw new InternalError('schema and table are identifiers');
  }
  if (request.table === undefined) {
    const schema = request.schema === undefined ? `t.TABLE_SCHEMA NOT IN (${MYSQL_SYSTEM_SCHEMAS})` : `t.TABLE_SCHEMA = ${literal(request.schema)}`;
    return `SELECT t.TABLE_SCHEMA AS \`schema\`, t.TABLE_NAME AS \`name\`,
       CASE t.TABLE_TYPE WHEN 'BASE TABLE' THEN 'table' WHEN 'SYSTEM VERSIONED' THEN 'table' WHEN 'VIEW' THEN 'view' ELSE LOWER(t.TABLE_TYPE) END AS \`kind\`,
       t.TABLE_ROWS AS \`row_estimate\`, NULLIF(t.TABLE_COMMENT, '') AS \`comment\`
  FROM information_schema.TABLES t
 WHERE ${schema}
 ORDER BY 1, 2`;
  }
  const schema = request.schema === undefined ? 'DATABASE()' : literal(request.schema);
  const table = literal(request.table);
  return `SELECT 'column' AS \`part\`, c.ORDINAL_POSITION AS \`position\`, c.COLUMN_NAME AS \`name\`, c.COLUMN_TYPE AS \`type\`,
       c.IS_NULLABLE = 'YES' AS \`nullable\`, c.COLUMN_DEFAULT AS \`detail\`, t.TABLE_ROWS AS \`row_estimate\`
  FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
 WHERE c.TABLE_SCHEMA = ${schema} AND c.TABLE_NAME = ${table}
UNION ALL
SELECT 'index', NULL, s.INDEX_NAME, NULL, NULL,
       CONCAT(IF(MAX(s.NON_UNIQUE) = 0, 'UNIQUE ', ''), 'INDEX (', GROUP_CONCAT(s.COLUMN_NAME ORDER BY s.SEQ_IN_INDEX SEPARATOR ', '), ')'), NULL
  FROM information_schema.STATISTICS s
 WHERE s.TABLE_SCHEMA = ${schema} AND s.TABLE_NAME = ${table}
 GROUP BY s.INDEX_NAME
 ORDER BY 1, 2, 3`;
}
