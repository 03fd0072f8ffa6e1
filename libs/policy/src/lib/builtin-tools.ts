import type { ConnectionConfig, RuleConfig } from '@rungate/config';
import { KubernetesExploreKind, type ConnectionType, type ExplorationTool, type Identity, type ToolDefinition } from '@rungate/contracts';
import { z } from 'zod';
import { decideExploration, type ExploreDecision } from './decide';
import { processOutputSchema, sqlOutputSchema } from './output-schemas';

/**
 * Built-in tools: tools Rungate itself provides, beside the runbooks of the catalog. Each has
 * its own decision, and `tools/list` and `tools/call` both ask that one function, exactly as
 * for runbooks (default deny: a tool no decision allows is neither listed nor callable, and
 * calling it answers like an unknown tool). Their names have no dot, so no runbook can take one.
 */

/** What a built-in tool's decision sees: the configuration in force. */
export interface BuiltinContext {
  connections: readonly ConnectionConfig[];
  rules: readonly RuleConfig[];
}

export interface BuiltinTool {
  readonly name: string;
  /** The connection types it runs on. */
  readonly connectionTypes: readonly ConnectionType[];
  /** The one decision, for one connection: listing asks it for each, calling for the one named. */
  decide(identity: Identity, connection: ConnectionConfig, context: BuiltinContext): ExploreDecision;
  /** Validates a call's arguments (the `connection` argument included). */
  readonly arguments: z.ZodType<Record<string, unknown>>;
  /** The MCP tool, narrowed to the connections this caller may use. */
  definition(connections: readonly ConnectionConfig[]): ToolDefinition;
}

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'an identifier: a letter or _, then letters, digits, _ or $');
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a Kubernetes object name');
const k8sLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label');

/** The JSON Schema of a tool's arguments, with `connection` narrowed to the caller's connections. */
function inputSchemaOf(args: z.ZodType, connections: readonly ConnectionConfig[]): Record<string, unknown> {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(args) as Record<string, unknown> & { properties?: Record<string, unknown> };
  const names = connections.map((c) => c.name);
  const properties = { ...(schema['properties'] as Record<string, unknown>) };
  properties['connection'] =
    names.length === 1
      ? { type: 'string', enum: names, default: names[0], description: 'Connection to explore' }
      : { type: 'string', enum: names, description: 'Connection to explore (required: you may explore several)' };
  const required = ((schema['required'] as string[] | undefined) ?? []).filter((name) => name !== 'connection');
  if (names.length > 1) required.push('connection');
  const result: Record<string, unknown> = { ...schema, type: 'object', properties, additionalProperties: false };
  if (required.length > 0) result['required'] = required;
  else delete result['required'];
  return result;
}

function tool(
  name: ExplorationTool,
  connectionTypes: readonly ConnectionType[],
  args: z.ZodObject,
  describe: (connections: readonly ConnectionConfig[]) => { title: string; description: string },
  output: Record<string, unknown>,
  explorable: (connection: ConnectionConfig) => boolean = () => true,
): BuiltinTool {
  const withConnection = args.extend({ connection: z.string().min(1).max(128).optional() }).strict();
  return {
    name,
    connectionTypes,
    arguments: withConnection,
    decide(identity, connection, context) {
      if (!connectionTypes.includes(connection.type) || !explorable(connection)) {
        return { effect: 'deny', family: 'no-rule', reason: `${name} does not run on ${connection.type} connection ${connection.name}` };
      }
      return decideExploration({ identity, tool: name, connection: connection.name }, context.rules);
    },
    definition(connections) {
      const { title, description } = describe(connections);
      return {
        name,
        title,
        description: `${description}\nBuilt into Rungate: read-only, audited as an exploration session a reviewer can read.`,
        inputSchema: inputSchemaOf(withConnection, connections),
        outputSchema: output,
        annotations: { title, ...READ_ONLY },
      };
    },
  };
}

/** What explore_sql runs on the connections a caller may use: PostgreSQL's reads, MySQL's, or both. */
function readStatements(connections: readonly ConnectionConfig[]): string {
  const types = new Set(connections.map((c) => c.type));
  const postgres = 'SELECT, WITH … SELECT, VALUES, TABLE, EXPLAIN or SHOW';
  const mysql = 'SELECT, WITH … SELECT, SHOW, EXPLAIN or DESCRIBE';
  if (!types.has('mysql')) return postgres;
  if (!types.has('postgres')) return mysql;
  return `on PostgreSQL ${postgres}; on MySQL ${mysql}`;
}

const exploreSql = tool(
  'explore_sql',
  ['postgres', 'mysql'],
  z.object({ sql: z.string().min(1).max(100_000).describe('One read-only statement: SELECT, WITH … SELECT, EXPLAIN or SHOW (PostgreSQL also VALUES and TABLE; MySQL also DESCRIBE)') }),
  (connections) => ({
    title: 'Run one read-only SQL statement',
    description: `Runs one read-only statement (${readStatements(connections)}) in a READ ONLY transaction that is always rolled back, with a row cap and a time limit. Writes, several statements, locking reads and functions that reach outside the database are refused before anything runs${connections.some((c) => c.type === 'mysql') ? ' (on MySQL also executable comments /*! … */, optimizer hints, INTO, := and SLEEP)' : ''}. Use explore_schema first to see the tables.`,
  }),
  sqlOutputSchema,
);

const exploreSchema = tool(
  'explore_schema',
  ['postgres', 'mysql'],
  z.object({
    schema: identifier.optional().describe('Only this schema (default: every schema but the system ones; on MySQL a schema is a database)'),
    table: identifier.optional().describe("A table or view: its columns, types, defaults and indexes (default: list the tables with their row estimates; on MySQL a table without schema is the connection's database's)"),
  }),
  () => ({
    title: 'Describe schemas and tables',
    description: 'Lists the tables and views you may read with their row estimates, or, given a table, its columns (type, nullability, default) and indexes.',
  }),
  sqlOutputSchema,
);

const exploreK8s = tool(
  'explore_k8s',
  ['kubernetes'],
  z.object({
    kind: KubernetesExploreKind.describe('What to read (Secrets are never readable)'),
    namespace: k8sLabel.optional().describe("The namespace (default: the connection's)"),
    name: k8sName.optional().describe('One object (default: list them)'),
  }),
  () => ({ title: 'Read Kubernetes objects', description: 'Gets one object or lists the objects of a kind in a namespace, like kubectl get -o json: GET requests only, never exec, never Secrets.' }),
  processOutputSchema,
);

const exploreLogs = tool(
  'explore_logs',
  ['kubernetes'],
  z.object({
    pod: k8sName.describe('The pod whose log to read'),
    namespace: k8sLabel.optional().describe("The namespace (default: the connection's)"),
    container: k8sLabel.optional().describe("The container (default: the pod's only or default container)"),
    tailLines: z.number().int().positive().max(10_000).default(200).describe('The last lines to return (default 200)'),
    sinceSeconds: z.number().int().positive().max(7 * 86_400).optional().describe('Only lines newer than this many seconds'),
    previous: z.boolean().default(false).describe("The previous container instance's log (after a restart)"),
  }),
  () => ({ title: "Read a pod's log", description: "Returns the tail of a pod container's log, like kubectl logs --tail: a read, never exec." }),
  processOutputSchema,
);

const exploreCommand = tool(
  'explore_command',
  ['ssh'],
  z.object({
    command: z.string().min(1).max(32).describe('One of the read-only commands this host allows (see the description)'),
    args: z.record(z.string(), z.string().max(1024)).default({}).describe("Values for the command's parameters"),
  }),
  (connections) => {
    const lines = connections.flatMap((connection) =>
      connection.type === 'ssh' && connection.explore
        ? connection.explore.commands.map((command) => {
            const params = Object.entries(command.params).map(([param, spec]) => `${param} (${spec.pattern})`);
            return `- ${command.name} on ${connection.name}: ${command.argv.join(' ')}${params.length ? `; args: ${params.join(', ')}` : ''}${command.description ? ` — ${command.description}` : ''}`;
          })
        : [],
    );
    return { title: 'Run a read-only host command', description: `Runs one of the host's allow-listed read-only commands, exactly as configured (no shell):\n${lines.join('\n')}` };
  },
  processOutputSchema,
  (connection) => connection.type === 'ssh' && connection.explore !== undefined,
);

const BUILTIN_TOOLS: ReadonlyMap<string, BuiltinTool> = new Map([exploreSql, exploreSchema, exploreK8s, exploreLogs, exploreCommand].map((t) => [t.name, t]));

/** The built-in tool of this name, or undefined (every other name is a runbook's, or unknown). */
export function builtinTool(name: string): BuiltinTool | undefined {
  return BUILTIN_TOOLS.get(name);
}

/** The connections this identity may use a built-in tool on, by the tool's one decision. */
export function builtinConnections(tool: BuiltinTool, identity: Identity, context: BuiltinContext): ConnectionConfig[] {
  return context.connections.filter((connection) => tool.connectionTypes.includes(connection.type) && tool.decide(identity, connection, context).effect === 'allow');
}

/** The built-in tools this identity may call, each narrowed to its connections. */
export function listBuiltinTools(identity: Identity, context: BuiltinContext): ToolDefinition[] {
  const tools: ToolDefinition[] = [];
  for (const builtin of BUILTIN_TOOLS.values()) {
    const allowed = builtinConnections(builtin, identity, context);
    if (allowed.length > 0) tools.push(builtin.definition(allowed));
  }
  return tools;
}
