import { RE2JS } from 're2js';
import { z } from 'zod';
import { Duration } from './primitives';

/**
 * Exploration in rungate.yaml (ADR 19): a rule's `explore:` grant switches the built-in
 * read-only tools on for its groups on the connections it names; a connection's own
 * `explore:` says how (a read-only role, the commands an SSH host allows) and bounds what
 * any grant may ask for.
 */

/** The most rows any exploration returns, whatever a grant asks for. */
export const MAX_EXPLORE_ROWS = 10_000;
/** The longest any exploration runs; longer is a runbook's job. */
export const MAX_EXPLORE_TIMEOUT_MS = 300_000;
const DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS = 30_000;

const exploreTimeout = Duration.refine((ms) => ms <= MAX_EXPLORE_TIMEOUT_MS, `at most ${MAX_EXPLORE_TIMEOUT_MS / 60_000}m: a longer read is a runbook's job`);

/** `rules[].explore`: the groups of the rule may explore these connections read-only. */
export const ExploreGrant = z.strictObject({
  connections: z
    .array(z.string().min(1))
    .min(1)
    .describe('connection names (no globs: every explored connection is named) of types postgres, mysql, kubernetes or ssh (with explore.commands)'),
  maxRows: z.number().int().positive().max(MAX_EXPLORE_ROWS).default(500).describe(`rows an exploration returns at most (≤ ${MAX_EXPLORE_ROWS}), within the connection's maxRows; more sets truncated`),
  timeout: exploreTimeout.default(10_000).describe("how long one exploration may run (default 10s), within the connection's explore.timeout"),
});
export type ExploreGrant = z.infer<typeof ExploreGrant>;

/** A PostgreSQL role name, as `SET LOCAL ROLE` will quote it. */
const roleName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'a role name: a letter or _, then letters, digits, _ or $ (at most 63)');

export const PostgresExplore = z.strictObject({
  role: roleName
    .optional()
    .describe('explorations run as this role (SET LOCAL ROLE): create it with SELECT only (README: Exploration); the connection\'s user must be a member'),
  timeout: exploreTimeout.default(DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS).describe('the longest exploration any grant may ask for on this connection (default 30s)'),
});
export type PostgresExploreConfig = z.infer<typeof PostgresExplore>;

export const MysqlExplore = z.strictObject({
  timeout: exploreTimeout
    .default(DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS)
    .describe('the longest exploration any grant may ask for on this connection (default 30s); log in as an account with SELECT and SHOW VIEW only (README: Exploration)'),
});
export type MysqlExploreConfig = z.infer<typeof MysqlExplore>;

/** The timeout bound of a connection without an `explore:` block of its own. */
export const DEFAULT_EXPLORE_BOUND = { timeout: DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS } as const;

export const KubernetesExplore = z.strictObject({
  namespaces: z
    .array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name'))
    .min(1)
    .optional()
    .describe("namespaces explore_k8s and explore_logs may read (default: the connection's namespace)"),
  timeout: exploreTimeout.default(DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS).describe('the longest read any grant may ask for (default 30s)'),
});
export type KubernetesExploreConfig = z.infer<typeof KubernetesExplore>;

/** `{name}` standing for a whole argv element: the only place a value can go. */
export const ARGV_PLACEHOLDER = /^\{([a-z][a-z0-9_]{0,31})\}$/;
const commandName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "-" and "_", starting with a letter');

export const ExploreCommand = z
  .strictObject({
    name: commandName,
    description: z.string().max(300).optional(),
    argv: z
      .array(z.string().min(1).max(1024))
      .min(1)
      .max(32)
      .describe('the exact argv, program first; an element "{p}" is replaced by parameter p, as one argument (never split, never a shell word)'),
    params: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'a parameter name'),
        z.strictObject({ pattern: z.string().min(1).describe('RE2, anchored: the whole value must match'), description: z.string().max(300).optional() }),
      )
      .default({})
      .describe('each placeholder of argv, with the pattern its value must match'),
  })
  .superRefine((command, ctx) => {
    const used = new Set<string>();
    command.argv.forEach((arg, index) => {
      const placeholder = ARGV_PLACEHOLDER.exec(arg);
      if (placeholder) {
        used.add(placeholder[1] as string);
        if (index === 0) ctx.addIssue({ code: 'custom', path: ['argv', 0], message: 'the program is fixed: the first element cannot be a placeholder' });
        if (!(placeholder[1] as string in command.params)) ctx.addIssue({ code: 'custom', path: ['argv', index], message: `placeholder {${placeholder[1]}} has no entry in params` });
      } else if (/[{}]/.test(arg) && /\{[a-z]/.test(arg)) {
        ctx.addIssue({ code: 'custom', path: ['argv', index], message: 'a placeholder stands for a whole argument ("{p}"), never part of one' });
      }
    });
    for (const [name, param] of Object.entries(command.params)) {
      if (!used.has(name)) ctx.addIssue({ code: 'custom', path: ['params', name], message: `parameter ${name} is not used in argv` });
      try {
        RE2JS.compile(param.pattern);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['params', name, 'pattern'], message: `not an RE2 pattern: ${(error as Error).message}` });
      }
    }
  });
export type ExploreCommandConfig = z.infer<typeof ExploreCommand>;

export const SshExplore = z
  .strictObject({
    commands: z.array(ExploreCommand).min(1).describe('the read-only commands explore_command may run, exactly as written (no shell, no free text)'),
    timeout: exploreTimeout.default(DEFAULT_CONNECTION_EXPLORE_TIMEOUT_MS).describe('the longest command any grant may ask for (default 30s)'),
  })
  .superRefine((explore, ctx) => {
    const seen = new Set<string>();
    explore.commands.forEach((command, index) => {
      if (seen.has(command.name)) ctx.addIssue({ code: 'custom', path: ['commands', index, 'name'], message: `duplicate command "${command.name}"` });
      seen.add(command.name);
    });
  });
export type SshExploreConfig = z.infer<typeof SshExplore>;

/** Connection types exploration can read, and why the others cannot. */
export const EXPLORABLE: Record<string, string | undefined> = {
  postgres: undefined,
  kubernetes: undefined,
  ssh: undefined,
  mysql: undefined,
  shell: "the executor host's own shell has no read-only mode to explore with; write a runbook instead",
};
