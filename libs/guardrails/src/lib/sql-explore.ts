import type { SqlParse } from './sql-parser';
import { kindLabel } from './sql-match';
import { descendants, summarizeStatements, unwrap, type StatementSummary } from './sql-statements';

/**
 * Functions an exploration may not call, by name, whichever schema they are looked up in:
 * they read or write outside the database's tables (files, large objects, other servers),
 * change settings or other sessions, or run SQL given as text, which no check of this
 * statement could see. A read-only transaction stops none of them: they are reads to it.
 */
const REFUSED_FUNCTIONS = new Set([
  'loread',
  'lowrite',
  'set_config',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_promote',
  'pg_switch_wal',
  'pg_log_backend_memory_contexts',
  'pg_log_standby_snapshot',
  'pg_drop_replication_slot',
  'pg_replication_slot_advance',
  'pg_sync_replication_slots',
  'pg_notify',
  'pg_export_snapshot',
  'pg_import_system_collations',
  'pg_stat_file',
  'nextval',
  'setval',
  'ts_stat',
  'ts_rewrite',
]);

/** Families of the same, by prefix (a new function of a family is refused before anyone reviews it). */
const REFUSED_PREFIXES = [
  'pg_read_',
  'pg_ls_',
  'pg_file_',
  'lo_',
  'dblink',
  'pg_backup_',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_wal_replay_',
  'pg_create_',
  'pg_copy_',
  'pg_replication_origin_',
  'pg_logical_',
  'pg_advisory',
  'pg_try_advisory',
  'pg_stat_reset',
  // These run the SQL text they are given: query_to_xml('DELETE …', …) hides a statement.
  'query_to_xml',
  'cursor_to_xml',
  'table_to_xml',
  'schema_to_xml',
  'database_to_xml',
];

/** Whether a function name (the last part of a possibly qualified name) is refused to explorations. */
export function isRefusedFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return REFUSED_FUNCTIONS.has(lower) || REFUSED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

export type ExploreStatementKind = 'select' | 'explain' | 'show';

export type ExploreCheck = { ok: true; kind: ExploreStatementKind } | { ok: false; reason: string };

const ALLOWED = 'explore_sql runs exactly one read-only statement: SELECT, WITH … SELECT, VALUES, TABLE, EXPLAIN or SHOW';

function refuse(reason: string): ExploreCheck {
  return { ok: false, reason };
}

function functionName(node: Record<string, unknown>): string | undefined {
  const parts = Array.isArray(node['funcname']) ? node['funcname'] : [];
  const last = unwrap(parts[parts.length - 1]);
  const name = last?.[1]['sval'];
  return typeof name === 'string' ? name : undefined;
}

/** The options an EXPLAIN names (`ANALYZE`, `VERBOSE`, …), lowercased. */
function explainOptions(node: Record<string, unknown>): Set<string> {
  const options = Array.isArray(node['options']) ? node['options'] : [];
  const names = new Set<string>();
  for (const option of options) {
    const element = unwrap(option);
    const name = element?.[1]['defname'];
    if (typeof name !== 'string') continue;
    // `EXPLAIN (ANALYZE false)` does not analyze; anything else naming it does.
    const arg = unwrap(element?.[1]['arg']);
    const off = arg?.[0] === 'Boolean' ? arg[1]['boolval'] !== true : arg?.[0] === 'String' && /^(false|off|0)$/i.test(String(arg[1]['sval']));
    if (!off) names.add(name.toLowerCase());
  }
  return names;
}

/** A statement inside EXPLAIN: a read, or a write that is only planned (no ANALYZE). */
function explainedProblem(summary: StatementSummary, explain: Record<string, unknown>): string | undefined {
  const inner = unwrap(explain['query']);
  if (!inner) return 'EXPLAIN of nothing';
  const analyze = explainOptions(explain).has('analyze');
  const writes = summary.contains.filter((kind) => kind !== 'explain');
  if (writes.length === 0) return undefined;
  const write = writes.find((kind) => !['insert', 'update', 'delete', 'merge'].includes(kind));
  if (write) return `EXPLAIN of ${kindLabel(write)}, which is not a read`;
  return analyze ? `EXPLAIN ANALYZE runs the statement it explains, and this one writes (${writes.map(kindLabel).join(', ')}); EXPLAIN it without ANALYZE` : undefined;
}

/**
 * Whether a SQL text is one read-only statement an exploration may run (ADR 19), as
 * PostgreSQL's own parser reads it: comments, quoting and dollar quotes cannot hide a second
 * statement or a write from it. It is the first of three defences; the executor runs what it
 * accepts in a READ ONLY transaction that is always rolled back, as a read-only role when the
 * connection names one, and with the extended query protocol (one statement at most).
 */
export function checkExploreSql(parse: SqlParse): ExploreCheck {
  if (!parse.ok) return refuse(`the statement does not parse as PostgreSQL (${parse.problem})`);
  if (parse.statements.length === 0) return refuse(`there is no statement to run; ${ALLOWED}`);
  if (parse.statements.length > 1) return refuse(`${parse.statements.length} statements were sent; ${ALLOWED}, so send them one call each`);
  const statement = parse.statements[0] as (typeof parse.statements)[number];
  const [summary] = summarizeStatements([statement]) as [StatementSummary];
  const top = unwrap(statement.node);
  if (!top) return refuse('the statement could not be read');
  if (summary.kind !== 'select' && summary.kind !== 'explain' && summary.kind !== 'show') return refuse(`the statement is ${kindLabel(summary.kind)}; ${ALLOWED}`);
  if (summary.kind === 'select' && summary.contains.length > 0) {
    return refuse(`the statement contains ${summary.contains.map(kindLabel).join(', ')} (a data-modifying WITH); ${ALLOWED}`);
  }
  if (summary.kind === 'explain') {
    const problem = explainedProblem(summary, top[1]);
    if (problem) return refuse(problem);
  }
  for (const [type, node] of descendants(statement.node)) {
    if (type === 'SelectStmt' && Array.isArray(node['lockingClause']) && node['lockingClause'].length > 0) {
      return refuse('FOR UPDATE / FOR SHARE takes row locks; explorations only read');
    }
    if (type === 'SelectStmt' && node['intoClause'] !== undefined) return refuse('SELECT … INTO creates a table; explorations only read');
    if (type === 'FuncCall') {
      const name = functionName(node);
      if (name !== undefined && isRefusedFunction(name)) {
        return refuse(`function ${name} reads or changes something outside the database's tables (or runs SQL text), so explorations may not call it`);
      }
    }
  }
  return { ok: true, kind: summary.kind };
}
