import { RE2JS } from 're2js';
import { z } from 'zod';
import { ApprovalConfig } from './primitives';

/**
 * The statement kinds a SQL guardrail can name. Every statement PostgreSQL's parser accepts
 * is exactly one of them; `other` is what no kind below covers yet, so an allow-list
 * (`statements:`) refuses it unless it names `other` itself.
 */
export const SQL_STATEMENT_KINDS = [
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'create',
  'alter',
  'drop',
  'truncate',
  'comment',
  'grant',
  'revoke',
  'role',
  'transaction',
  'set',
  'show',
  'discard',
  'listen',
  'notify',
  'copy',
  'explain',
  'do',
  'call',
  'prepare',
  'execute',
  'deallocate',
  'cursor',
  'lock',
  'vacuum',
  'analyze',
  'cluster',
  'reindex',
  'refresh',
  'checkpoint',
  'load',
  'other',
] as const;
export type SqlStatementKind = (typeof SQL_STATEMENT_KINDS)[number];

/** Names for several kinds at once. TRUNCATE counts as DDL: it takes the whole table, cannot be limited by WHERE and fires no row triggers. */
export const SQL_STATEMENT_FAMILIES = {
  dml: ['insert', 'update', 'delete', 'merge'],
  ddl: ['create', 'alter', 'drop', 'truncate', 'comment'],
  dcl: ['grant', 'revoke', 'role'],
  session: ['set', 'discard', 'listen'],
  maintenance: ['vacuum', 'analyze', 'cluster', 'reindex', 'refresh', 'checkpoint'],
  procedural: ['do', 'call', 'prepare', 'execute', 'deallocate'],
} as const satisfies Record<string, readonly SqlStatementKind[]>;
export type SqlStatementFamily = keyof typeof SQL_STATEMENT_FAMILIES;

const SqlKindOrFamily = z.enum([...SQL_STATEMENT_KINDS, ...(Object.keys(SQL_STATEMENT_FAMILIES) as SqlStatementFamily[])]);

/** The kinds a list of kinds and families stands for. */
export function expandSqlKinds(names: readonly (SqlStatementKind | SqlStatementFamily)[]): Set<SqlStatementKind> {
  const kinds = new Set<SqlStatementKind>();
  for (const name of names) {
    if (name in SQL_STATEMENT_FAMILIES) for (const kind of SQL_STATEMENT_FAMILIES[name as SqlStatementFamily]) kinds.add(kind);
    else kinds.add(name as SqlStatementKind);
  }
  return kinds;
}

/** RE2 (linear time, no backreferences); checked here so a bad pattern is a config error naming its key. */
const Re2Pattern = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid RE2 pattern: ${(error as Error).message}` });
    }
  });

const SqlMatch = z
  .strictObject({
    statements: z
      .array(SqlKindOrFamily)
      .min(1)
      .optional()
      .describe('the only statement kinds (or families) allowed; any other statement matches, also one inside EXPLAIN or a data-modifying WITH'),
    forbid: z.array(SqlKindOrFamily).min(1).optional().describe('statement kinds (or families) that match wherever they appear'),
    requireWhere: z
      .boolean()
      .optional()
      .describe('an UPDATE or DELETE matches unless its WHERE references a column (WHERE true, WHERE 1=1 and a missing WHERE all match); likewise MERGE and its ON'),
    maxStatements: z.number().int().positive().optional().describe('a body with more statements than this matches'),
  })
  .refine((sql) => sql.statements || sql.forbid || sql.requireWhere || sql.maxStatements, {
    message: 'checks nothing: give statements, forbid, requireWhere: true or maxStatements',
  });

const MATCH_FORMS = ['words', 'pattern', 'maxRows/maxBytes', 'sql'] as const;

export const GuardrailMatch = z
  .strictObject({
    words: z
      .array(z.string().trim().min(1))
      .min(1)
      .optional()
      .describe('matches when one of these words appears, whole and in any case (input: the rendered body or a parameter; output: a value)'),
    pattern: Re2Pattern.optional().describe('an RE2 regular expression that matches anywhere (unanchored); (?i) for any case'),
    maxRows: z.number().int().positive().optional().describe('output only: matches when a SQL result has more rows than this'),
    maxBytes: z.number().int().positive().optional().describe('output only: matches when the output (as JSON) is larger than this'),
    sql: SqlMatch.optional().describe('input only: the rendered SQL body as PostgreSQL parses it; a body that does not parse matches'),
  })
  .superRefine((match, ctx) => {
    const forms = [match.words, match.pattern, match.maxRows ?? match.maxBytes, match.sql].filter((form) => form !== undefined);
    if (forms.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of ${MATCH_FORMS.join(', ')}` });
  });
export type GuardrailMatch = z.infer<typeof GuardrailMatch>;

export const GuardrailConfig = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "-" and "_", starting with a letter or digit').describe('recorded in the audit trail and shown to the agent'),
    on: z.enum(['input', 'output']).describe('input: checked by policy on the rendered body and parameters before a ticket is signed; output: by the executor on the result before it leaves'),
    match: GuardrailMatch,
    action: z
      .enum(['deny', 'warn', 'require_approval'])
      .default('deny')
      .describe('deny refuses (input) or withholds the result (output); warn lets it through and records it; require_approval (input) holds the run for approval'),
    message: z.string().min(1).optional().describe('what the agent is told when the guardrail matches; default: what matched'),
    connections: z.array(z.string().min(1)).min(1).optional().describe('applies to runs on these connections (names or globs)'),
    runbooks: z.array(z.string().min(1)).min(1).optional().describe('applies to these runbooks (globs over <repository>/<path>); with connections, to runs matching both'),
    approval: ApprovalConfig.optional().describe('require_approval only: who approves'),
  })
  .superRefine((guardrail, ctx) => {
    const { match, on, action } = guardrail;
    if (on === 'input' && (match.maxRows !== undefined || match.maxBytes !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['match'], message: 'maxRows and maxBytes limit output; use on: output' });
    }
    if (on === 'output' && match.sql) ctx.addIssue({ code: 'custom', path: ['match', 'sql'], message: 'sql checks the body before it runs; use on: input' });
    if (on === 'output' && action === 'require_approval') {
      ctx.addIssue({ code: 'custom', path: ['action'], message: 'output guardrails deny or warn: the run has already happened when its output is checked' });
    }
    if (action === 'require_approval' && !guardrail.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: 'require_approval needs approval: { groups: [...] }' });
    if (action !== 'require_approval' && guardrail.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: 'only a require_approval guardrail takes approval' });
  });
export type GuardrailConfig = z.infer<typeof GuardrailConfig>;
