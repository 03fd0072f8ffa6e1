import type { ConnectionConfig, GuardrailConfig } from '@rungate/config';
import { RUN_STATUS_TOOL } from '@rungate/contracts';
import type { Identity, RunbookEntry, ToolDefinition } from '@rungate/contracts';
import { inputSchema, type ParsedRunbook } from '@rungate/runbooks';
import { listBuiltinTools } from './builtin-tools';
import { processOutputSchema, runbookOutputSchema, runStatusOutputSchema, sqlOutputSchema } from './output-schemas';
import { decide, permits } from './decide';
import type { RuleConfig } from '@rungate/config';

/** Arguments every tool may take besides the runbook's own parameters. */
export const RESERVED_ARGUMENTS = ['connection', 'dryRun'] as const;

export function runbookKey(entry: Pick<RunbookEntry, 'repository' | 'path'>): string {
  return `${entry.repository}/${entry.path}`;
}

/** A connection this identity may run a runbook on, the rule that allows it, and whether that rule wants an approval first. */
export interface ConnectionGrant {
  connection: ConnectionConfig;
  rule: string;
  approval: boolean;
}

/** The connections this identity may run this runbook on, each with its rule, by the one decision function. */
export function connectionGrants(
  identity: Identity,
  entry: RunbookEntry,
  connections: readonly ConnectionConfig[],
  rules: readonly RuleConfig[],
): ConnectionGrant[] {
  const key = runbookKey(entry);
  const grants: ConnectionGrant[] = [];
  for (const connection of connections) {
    if (!entry.metadata.connectionTypes.includes(connection.type)) continue;
    const decision = decide({ identity, runbook: key, connection: connection.name }, rules);
    if (permits(decision)) grants.push({ connection, rule: decision.rule, approval: decision.effect === 'approval_required' });
  }
  return grants;
}

/**
 * Whether a call of this runbook may be held for approval (ADR 18 §2): a grant's rule wants one,
 * or some input guardrail may require one. Such a tool supports MCP tasks (§8); no other does.
 */
export function mayBeHeld(grants: readonly ConnectionGrant[], guardrailHolds: boolean): boolean {
  return guardrailHolds || grants.some((g) => g.approval);
}

/** MCP tasks' tool-level negotiation for a tool that may be held: a task-augmented call is optional. */
const TASKS_OPTIONAL = { taskSupport: 'optional' } as const;

/** The connections this identity may run this runbook on. */
export function allowedConnections(
  identity: Identity,
  entry: RunbookEntry,
  connections: readonly ConnectionConfig[],
  rules: readonly RuleConfig[],
): ConnectionConfig[] {
  return connectionGrants(identity, entry, connections, rules).map((grant) => grant.connection);
}

export function outputSchemaFor(entry: RunbookEntry): Record<string, unknown> {
  return runbookOutputSchema(entry.language === 'sql' ? sqlOutputSchema : processOutputSchema);
}

/** SQL runs in a transaction that can be rolled back; Kubernetes manifests and actions take dryRun=All. Scripts cannot. */
export function supportsDryRun(entry: Pick<RunbookEntry, 'language'>): boolean {
  return entry.language === 'sql' || entry.language === 'kubernetes';
}

/** One MCP tool for one runbook, with the connections this caller may use. */
export function toolDefinition(entry: RunbookEntry, connections: readonly ConnectionConfig[]): ToolDefinition {
  const schema = inputSchema(entry as ParsedRunbook) as { properties?: Record<string, unknown>; required?: string[] };
  const properties: Record<string, unknown> = { ...(schema.properties ?? {}) };
  const required = [...(schema.required ?? [])];
  const names = connections.map((c) => c.name);
  properties['connection'] =
    names.length === 1
      ? { type: 'string', enum: names, default: names[0], description: 'Connection to run on' }
      : { type: 'string', enum: names, description: 'Connection to run on (required: this runbook is allowed on several)' };
  if (names.length > 1) required.push('connection');
  if (supportsDryRun(entry)) {
    properties['dryRun'] = {
      type: 'boolean',
      default: false,
      description:
        entry.language === 'sql'
          ? 'Run inside a transaction, report what would change, then roll back'
          : 'Send every change with dryRun=All: the API server validates and admits it, then discards it',
    };
  }
  const description = [
    entry.metadata.description ?? `Runs the runbook ${entry.path} from repository ${entry.repository}.`,
    `Source: ${entry.repository}/${entry.path} (reviewed in Git).`,
  ].join('\n');
  return {
    name: entry.tool,
    title: entry.metadata.description,
    description,
    inputSchema: { ...schema, type: 'object', properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false },
    outputSchema: outputSchemaFor(entry),
    annotations: {
      ...(entry.metadata.description ? { title: entry.metadata.description } : {}),
      readOnlyHint: entry.metadata.readOnly,
      destructiveHint: entry.metadata.destructive,
      idempotentHint: entry.metadata.idempotent,
      openWorldHint: false,
    },
  };
}

const definitions = new WeakMap<RunbookEntry, Map<string, ToolDefinition>>();

/** Tool definitions depend only on the entry and the connection names: built once each. */
function cachedDefinition(entry: RunbookEntry, allowed: readonly ConnectionConfig[]): ToolDefinition {
  let byConnections = definitions.get(entry);
  if (!byConnections) {
    byConnections = new Map();
    definitions.set(entry, byConnections);
  }
  const key = allowed.map((c) => c.name).join('\u0000');
  let definition = byConnections.get(key);
  if (!definition) {
    definition = toolDefinition(entry, allowed);
    byConnections.set(key, definition);
  }
  return definition;
}

/** Rules whose groups the identity has: the only ones that can ever allow it anything. */
export function rulesFor(identity: Identity, rules: readonly RuleConfig[]): RuleConfig[] {
  const groups = new Set(identity.groups);
  return rules.filter((rule) => rule.groups.some((g) => groups.has(g)));
}

/** Whether some require_approval guardrail can hold a run (it may match any runbook it is attached to). */
export function guardrailsHold(guardrails: readonly Pick<GuardrailConfig, 'on' | 'action'>[]): boolean {
  return guardrails.some((g) => g.on === 'input' && g.action === 'require_approval');
}

/** `rungate_run_status` (ADR 18 §2): read-only, for whoever can call a tool that may be held. */
export const runStatusDefinition: ToolDefinition = {
  name: RUN_STATUS_TOOL,
  title: 'Follow a run held for approval',
  description:
    "Answers the state of a run of yours that was held for approval (pending, approved, executing, executed, failed, rejected or expired), its decisions, and once it ran its result (masked as any run's). Call it with the runId a held call answered.\nBuilt into Rungate: read-only, only your own runs.",
  inputSchema: {
    type: 'object',
    properties: { runId: { type: 'string', minLength: 1, maxLength: 64, description: 'The runId the held call answered' } },
    required: ['runId'],
    additionalProperties: false,
  },
  outputSchema: runStatusOutputSchema,
  annotations: { title: 'Follow a run held for approval', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
};

/** Every tool this identity may call, across all catalogs, then the built-in tools it may call. */
export function listTools(
  identity: Identity,
  entries: readonly RunbookEntry[],
  connections: readonly ConnectionConfig[],
  rules: readonly RuleConfig[],
  /** guardrailsHold(config.guardrails): some guardrail may hold any tool's run. */
  guardrailHolds = false,
  /** Held runs can be stored (policy has a database): a tool that may be held says it supports MCP tasks. */
  taskSupport = false,
): ToolDefinition[] {
  const applicable = rulesFor(identity, rules);
  const tools: ToolDefinition[] = [];
  if (applicable.length === 0) return tools;
  let holds = false;
  for (const entry of entries) {
    const grants = connectionGrants(identity, entry, connections, applicable);
    if (grants.length === 0) continue;
    const definition = cachedDefinition(entry, grants.map((g) => g.connection));
    const held = mayBeHeld(grants, guardrailHolds);
    tools.push(taskSupport && held ? { ...definition, execution: TASKS_OPTIONAL } : definition);
    holds ||= held;
  }
  tools.push(...listBuiltinTools(identity, { connections, rules: applicable }));
  if (holds) tools.push(runStatusDefinition);
  return tools;
}

/**
 * Whether this identity may call `rungate_run_status`: exactly when tools/list lists it (it can
 * call a tool that may be held), by the same listing.
 */
export function mayFollowHeldRuns(
  identity: Identity,
  entries: readonly RunbookEntry[],
  connections: readonly ConnectionConfig[],
  rules: readonly RuleConfig[],
  guardrailHolds: boolean,
): boolean {
  return listTools(identity, entries, connections, rules, guardrailHolds).some((t) => t.name === RUN_STATUS_TOOL);
}

/** A runbook as the web console's catalog shows it (ADR 23): where it comes from and which rules grant it to this identity. */
export interface CatalogViewEntry {
  tool: string;
  repository: string;
  path: string;
  grants: { connection: string; rule: string; approval: boolean }[];
}

/** The runbooks tools/list lists for this identity (the same rules, the same decision), with their grants. */
export function catalogView(identity: Identity, entries: readonly RunbookEntry[], connections: readonly ConnectionConfig[], rules: readonly RuleConfig[]): CatalogViewEntry[] {
  const applicable = rulesFor(identity, rules);
  if (applicable.length === 0) return [];
  const view: CatalogViewEntry[] = [];
  for (const entry of entries) {
    const grants = connectionGrants(identity, entry, connections, applicable);
    if (grants.length > 0) view.push({ tool: entry.tool, repository: entry.repository, path: entry.path, grants: grants.map((g) => ({ connection: g.connection.name, rule: g.rule, approval: g.approval })) });
  }
  return view;
}
