import type { SqlStatementKind } from '@rungate/config';
import type { ParsedStatement } from './sql-parser';

type Fields = Record<string, unknown>;

function fields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

function items(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** `{ DeleteStmt: {...} }` → `['DeleteStmt', {...}]`: every parser node is an object with one key, its type. */
export function unwrap(node: unknown): [string, Fields] | undefined {
  const outer = fields(node);
  if (!outer) return undefined;
  const keys = Object.keys(outer);
  if (keys.length !== 1) return undefined;
  const inner = fields(outer[keys[0] as string]);
  return inner ? [keys[0] as string, inner] : undefined;
}

const grantOrRevoke = (node: Fields): SqlStatementKind => (node['is_grant'] ? 'grant' : 'revoke');

const CREATE = [
  'CreateSchemaStmt', 'CreateStmt', 'CreateTableSpaceStmt', 'CreateExtensionStmt', 'CreateFdwStmt', 'CreateForeignServerStmt',
  'CreateForeignTableStmt', 'CreateUserMappingStmt', 'ImportForeignSchemaStmt', 'CreatePolicyStmt', 'CreateAmStmt', 'CreateTrigStmt',
  'CreateEventTrigStmt', 'CreatePLangStmt', 'CreateSeqStmt', 'DefineStmt', 'CreateDomainStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt',
  'IndexStmt', 'CreateStatsStmt', 'CreateFunctionStmt', 'RuleStmt', 'CompositeTypeStmt', 'CreateEnumStmt', 'CreateRangeStmt', 'ViewStmt',
  'CreatedbStmt', 'CreateTableAsStmt', 'CreateConversionStmt', 'CreateCastStmt', 'CreateTransformStmt', 'CreatePublicationStmt',
  'CreateSubscriptionStmt',
];
const ALTER = [
  'AlterTableStmt', 'ReplicaIdentityStmt', 'AlterCollationStmt', 'AlterDomainStmt', 'AlterTableSpaceOptionsStmt', 'AlterTableMoveAllStmt',
  'AlterExtensionStmt', 'AlterExtensionContentsStmt', 'AlterFdwStmt', 'AlterForeignServerStmt', 'AlterUserMappingStmt', 'AlterPolicyStmt',
  'AlterEventTrigStmt', 'AlterSeqStmt', 'AlterOpFamilyStmt', 'AlterStatsStmt', 'AlterFunctionStmt', 'RenameStmt', 'AlterObjectDependsStmt',
  'AlterObjectSchemaStmt', 'AlterOwnerStmt', 'AlterOperatorStmt', 'AlterTypeStmt', 'AlterEnumStmt', 'AlterDatabaseStmt',
  'AlterDatabaseRefreshCollStmt', 'AlterDatabaseSetStmt', 'AlterSystemStmt', 'AlterTSDictionaryStmt', 'AlterTSConfigurationStmt',
  'AlterPublicationStmt', 'AlterSubscriptionStmt', 'ReassignOwnedStmt',
];
const DROP = ['DropStmt', 'DropTableSpaceStmt', 'DropUserMappingStmt', 'DropdbStmt', 'DropOwnedStmt', 'DropSubscriptionStmt'];

/** Parser node type → statement kind. A node type not listed is `other`, which no allow-list admits unless it says so. */
const KIND_OF_NODE: Record<string, SqlStatementKind | ((node: Fields) => SqlStatementKind)> = {
  // SELECT … INTO creates a table.
  SelectStmt: (node) => (node['intoClause'] ? 'create' : 'select'),
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
  ...Object.fromEntries(CREATE.map((type) => [type, 'create' as const])),
  ...Object.fromEntries(ALTER.map((type) => [type, 'alter' as const])),
  ...Object.fromEntries(DROP.map((type) => [type, 'drop' as const])),
  TruncateStmt: 'truncate',
  CommentStmt: 'comment',
  SecLabelStmt: 'comment',
  GrantStmt: grantOrRevoke,
  GrantRoleStmt: grantOrRevoke,
  AlterDefaultPrivilegesStmt: (node) => grantOrRevoke(fields(node['action']) ?? {}),
  CreateRoleStmt: 'role',
  AlterRoleStmt: 'role',
  AlterRoleSetStmt: 'role',
  DropRoleStmt: 'role',
  TransactionStmt: 'transaction',
  VariableSetStmt: 'set',
  ConstraintsSetStmt: 'set',
  VariableShowStmt: 'show',
  DiscardStmt: 'discard',
  ListenStmt: 'listen',
  UnlistenStmt: 'listen',
  NotifyStmt: 'notify',
  CopyStmt: 'copy',
  ExplainStmt: 'explain',
  DoStmt: 'do',
  CallStmt: 'call',
  PrepareStmt: 'prepare',
  ExecuteStmt: 'execute',
  DeallocateStmt: 'deallocate',
  DeclareCursorStmt: 'cursor',
  FetchStmt: 'cursor',
  ClosePortalStmt: 'cursor',
  LockStmt: 'lock',
  VacuumStmt: (node) => (node['is_vacuumcmd'] ? 'vacuum' : 'analyze'),
  ClusterStmt: 'cluster',
  ReindexStmt: 'reindex',
  RefreshMatViewStmt: 'refresh',
  CheckPointStmt: 'checkpoint',
  LoadStmt: 'load',
};

function kindOf(type: string, node: Fields): SqlStatementKind | undefined {
  const kind = KIND_OF_NODE[type];
  return typeof kind === 'function' ? kind(node) : kind;
}

/** Every node under `root`, depth first, without recursion (a deeply nested expression cannot overflow the stack). */
export function* descendants(root: unknown): Generator<[string, Fields]> {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    const node = fields(value);
    if (!node) continue;
    const typed = unwrap(value);
    if (typed) yield typed;
    stack.push(...Object.values(typed ? typed[1] : node));
  }
}

export type WriteCommand = 'UPDATE' | 'DELETE' | 'MERGE';

export interface UnrestrictedWrite {
  command: WriteCommand;
  /** No WHERE (or ON) at all, rather than one that references no column of the target. */
  missing: boolean;
}

export interface StatementSummary {
  /** 1-based position in the body. */
  index: number;
  line: number;
  kind: SqlStatementKind;
  /** Statements inside this one (EXPLAIN's, a data-modifying WITH, PREPARE's, a COPY query, a rule's actions); not plain subqueries. */
  contains: SqlStatementKind[];
  /** UPDATE and DELETE without a WHERE, and MERGE without an ON, that restricts the target's rows. */
  unrestricted: UnrestrictedWrite[];
}

/** The names a condition may use for the table being written: its name and its alias. */
function targetNames(node: Fields): Set<string> {
  const relation = fields(node['relation']);
  const names = new Set<string>();
  if (typeof relation?.['relname'] === 'string') names.add(relation['relname']);
  const alias = fields(relation?.['alias']);
  if (typeof alias?.['aliasname'] === 'string') names.add(alias['aliasname']);
  return names;
}

/**
 * Whether an expression looks at the target's rows. A column counts when it is unqualified
 * outside a subquery (it can only be the target's or a joined table's), or qualified by the
 * target's name or alias anywhere (a correlated subquery). `WHERE CURRENT OF` names one row.
 */
function referencesTarget(expression: unknown, target: ReadonlySet<string>): boolean {
  const stack: { value: unknown; inSubquery: boolean }[] = [{ value: expression, inSubquery: false }];
  while (stack.length > 0) {
    const { value, inSubquery } = stack.pop() as { value: unknown; inSubquery: boolean };
    if (Array.isArray(value)) {
      for (const item of value) stack.push({ value: item, inSubquery });
      continue;
    }
    const typed = unwrap(value);
    if (!typed) {
      const node = fields(value);
      if (node) for (const child of Object.values(node)) stack.push({ value: child, inSubquery });
      continue;
    }
    const [type, node] = typed;
    if (type === 'CurrentOfExpr') return true;
    if (type === 'ColumnRef') {
      const names = items(node['fields']).map((field) => unwrap(field)?.[1]['sval']);
      const qualifier = names.length >= 2 ? names[names.length - 2] : undefined;
      if (qualifier === undefined ? !inSubquery : typeof qualifier === 'string' && target.has(qualifier)) return true;
      continue;
    }
    for (const [key, child] of Object.entries(node)) stack.push({ value: child, inSubquery: inSubquery || (type === 'SubLink' && key === 'subselect') });
  }
  return false;
}

/**
 * Whether a WHERE (or MERGE's ON) limits the rows written. AND limits if any side does, OR
 * only if every side does (`id = 5 OR TRUE` is every row), and a condition that looks at no
 * column of the target (`true`, `1 = 1`, `now() > '2000-01-01'`) is the same for every row.
 * A tautology over a column (`id = id`) is beyond it: that is a reviewer's catch.
 */
function restrictsRows(condition: unknown, target: ReadonlySet<string>): boolean {
  const bool = unwrap(condition);
  if (bool?.[0] === 'BoolExpr') {
    const args = items(bool[1]['args']);
    if (bool[1]['boolop'] === 'AND_EXPR') return args.some((arg) => restrictsRows(arg, target));
    if (bool[1]['boolop'] === 'OR_EXPR') return args.every((arg) => restrictsRows(arg, target));
  }
  return referencesTarget(condition, target);
}

const WRITES: Record<string, { command: WriteCommand; condition: string }> = {
  UpdateStmt: { command: 'UPDATE', condition: 'whereClause' },
  DeleteStmt: { command: 'DELETE', condition: 'whereClause' },
  MergeStmt: { command: 'MERGE', condition: 'joinCondition' },
};

/** What each statement of a parsed body is and does, as guardrails judge it. */
export function summarizeStatements(statements: readonly ParsedStatement[]): StatementSummary[] {
  return statements.map((statement, index) => {
    const top = unwrap(statement.node);
    const summary: StatementSummary = { index: index + 1, line: statement.line, kind: (top && kindOf(...top)) ?? 'other', contains: [], unrestricted: [] };
    for (const [type, node] of descendants(statement.node)) {
      const write = WRITES[type];
      if (write && !restrictsRows(node[write.condition], targetNames(node))) {
        summary.unrestricted.push({ command: write.command, missing: node[write.condition] === undefined });
      }
      if (node === top?.[1]) continue;
      const kind = kindOf(type, node);
      // A plain subquery adds nothing its statement does not already say.
      if (kind !== undefined && kind !== 'select' && !summary.contains.includes(kind)) summary.contains.push(kind);
    }
    return summary;
  });
}
