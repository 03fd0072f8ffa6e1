import { z } from 'zod';
import { AuditSinkConfigs } from './audit-sinks';
import { ConsoleConfig } from './console';
import { AccessScope } from '@rungate/contracts';
import { EXPLORABLE, ExploreGrant, KubernetesExplore, MysqlExplore, PostgresExplore, SshExplore } from './exploration';
import { globMatch } from './glob';
import { GuardrailConfig } from './guardrails';
import { ConnectionMasking, MaskingProfileConfig, MaskingSelection, NO_MASKING } from './masking';
import { ApprovalConfig, Duration as duration, SecretRef } from './primitives';

export { SecretRef, parseDuration } from './primitives';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "-" and "_", starting with a letter or digit');

export const RepositoryConfig = z.strictObject({
  name: name.describe('tool names start with it: <name>.<path with / as .>'),
  url: z.string().min(1).describe('a local path, file://, https:// or ssh URL'),
  branch: z.string().min(1).default('main'),
  path: z.string().optional().describe('sub-folder of the repository that holds the runbooks'),
  pollInterval: duration.default(10_000).describe('how often to check the remote (ls-remote); default 10s'),
  auth: z
    .strictObject({
      token: SecretRef.optional(),
      sshKey: SecretRef.optional(),
      knownHosts: SecretRef.optional(),
    })
    .optional(),
  webhookSecret: SecretRef.optional().describe('HMAC secret for POST /hooks/git/<name> on git-sync'),
});
export type RepositoryConfig = z.infer<typeof RepositoryConfig>;

/** TLS to a database server, with libpq's sslmode semantics (PostgreSQL and MySQL alike). */
const DatabaseTls = z
  .strictObject({
    mode: z
      .enum(['disable', 'require', 'verify-ca', 'verify-full'])
      .default('verify-full')
      .describe('as libpq\'s sslmode: require encrypts without checking the server; verify-ca checks the chain; verify-full also the host name'),
    ca: SecretRef.optional().describe('PEM CA bundle that signs the server certificate (default: the system CAs)'),
    cert: SecretRef.optional().describe('PEM client certificate, for certificate authentication'),
    key: SecretRef.optional().describe('PEM client key, with cert'),
  })
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), 'cert and key go together');
export type DatabaseTlsConfig = z.infer<typeof DatabaseTls>;

const pool = z.strictObject({ max: z.number().int().positive().max(200).default(10), idleTimeout: duration.optional() }).default({ max: 10 });
const maxRows = z.number().int().positive().default(1000).describe('rows returned at most; more sets truncated');

const PostgresConnection = z.strictObject({
  name,
  type: z.literal('postgres'),
  masking: ConnectionMasking.optional(),
  url: SecretRef.describe('postgres:// URL with credentials, as a secret reference'),
  pool,
  tls: DatabaseTls.optional().describe('TLS to the database; when set, the url must not carry sslmode/sslrootcert/sslcert/sslkey'),
  maxRows,
  maxBytes: z.number().int().positive().default(1024 * 1024),
  explore: PostgresExplore.optional().describe('how explore_sql and explore_schema run here (a read-only role, their longest time); a rule\'s explore grant switches them on'),
});
/**
 * sql_mode modes that stand for several others including ANSI_QUOTES: the executor pins the
 * session's sql_mode and parameter escaping follows ANSI_QUOTES and NO_BACKSLASH_ESCAPES, so
 * those two must be visible in the list itself (ADR 16).
 */
const MYSQL_COMBINATION_MODES = ['ANSI', 'DB2', 'MAXDB', 'MSSQL', 'ORACLE', 'POSTGRESQL'];
export const DEFAULT_MYSQL_SQL_MODE = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
const MysqlSqlMode = z
  .string()
  .transform((mode) => mode.split(',').map((m) => m.trim().toUpperCase()).filter(Boolean).join(','))
  .superRefine((mode, ctx) => {
    for (const name of mode ? mode.split(',') : []) {
      if (!/^[A-Z_]+$/.test(name)) ctx.addIssue({ code: 'custom', message: `"${name}" is not an sql_mode name (letters and "_", separated by commas)` });
      else if (MYSQL_COMBINATION_MODES.includes(name)) {
        ctx.addIssue({ code: 'custom', message: `${name} stands for several modes including ANSI_QUOTES; list the modes it stands for instead, so the quoting the runbooks are escaped for is explicit` });
      }
    }
  });
const MysqlConnection = z.strictObject({
  name,
  type: z.literal('mysql'),
  masking: ConnectionMasking.optional(),
  url: SecretRef.describe('mysql://user:password@host:3306/database URL, as a secret reference; no query parameters (TLS goes in tls)'),
  pool,
  tls: DatabaseTls.optional().describe('TLS to the server (mysql2 ssl): require encrypts without checking the server; verify-ca checks the chain; verify-full also the host name'),
  sqlMode: MysqlSqlMode.default(DEFAULT_MYSQL_SQL_MODE).describe(
    'the sql_mode every run\'s session is pinned to, as the runbooks expect it: with NO_BACKSLASH_ESCAPES a backslash in a string is an ordinary character, with ANSI_QUOTES "…" is an identifier; parameter values are escaped to match',
  ),
  maxRows,
  maxBytes: z.number().int().positive().default(1024 * 1024),
  explore: MysqlExplore.optional().describe("how long explore_sql and explore_schema may run here; a rule's explore grant switches them on (README: Exploration, for the read-only account)"),
});
export type MysqlConnectionConfig = z.infer<typeof MysqlConnection>;

/** The two sql_mode flags that change how MySQL reads quoted text, from a connection's pinned sql_mode. */
export function mysqlQuotingOf(connection: Pick<MysqlConnectionConfig, 'sqlMode'>): { noBackslashEscapes: boolean; ansiQuotes: boolean } {
  const modes = new Set(connection.sqlMode.split(','));
  return { noBackslashEscapes: modes.has('NO_BACKSLASH_ESCAPES'), ansiQuotes: modes.has('ANSI_QUOTES') };
}
/** Host key types ssh2 can verify; the pinned key's type is the only one offered in the handshake. */
const SSH_HOST_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,2}( .*)?$/;
const SshConnection = z
  .strictObject({
    name,
    type: z.literal('ssh'),
    masking: ConnectionMasking.optional(),
    host: z.string().min(1),
    port: z.number().int().positive().max(65535).default(22),
    user: z.string().min(1),
    privateKey: SecretRef.optional().describe('private key (OpenSSH or PEM: ed25519, ecdsa, rsa) for key authentication'),
    passphrase: SecretRef.optional().describe('for an encrypted privateKey'),
    password: SecretRef.optional().describe('for password authentication (tried before the key when both are set)'),
    hostKey: z
      .string()
      .trim()
      .regex(SSH_HOST_KEY, 'the host key as the server\'s .pub file or known_hosts has it: "<type> <base64>", e.g. "ssh-ed25519 AAAA…"')
      .describe('the pinned host key ("ssh-ed25519 AAAA…", from the server\'s /etc/ssh/ssh_host_*_key.pub); no trust on first use'),
    shell: z
      .string()
      .regex(/^\S+$/, 'one program (e.g. /bin/bash); the script is fed to it with -s')
      .optional()
      .describe('the interpreter on the host that reads the script (`<shell> -s`); default sh'),
    pool: z
      .strictObject({
        max: z.number().int().positive().max(64).default(4).describe('SSH connections kept open to the host at most'),
        sessions: z
          .number()
          .int()
          .positive()
          .max(9)
          .default(4)
          .describe('runs at once on one connection; stay below the server\'s MaxSessions (OpenSSH: 10), which cancels also use'),
        idleTimeout: duration.default(300_000).describe('an unused connection is closed after this long; default 5m'),
      })
      .optional()
      .describe('connections reused across runs; default { max: 4, sessions: 4, idleTimeout: 5m }'),
    warmSessions: z
      .number()
      .int()
      .min(0)
      .max(8)
      .optional()
      .describe('sessions (`<shell> -s` waiting on stdin, sent nothing) kept open ahead of the next run on each used connection, within pool.sessions; default 1, 0 disables'),
    keepalive: duration.optional().describe('SSH keep-alive interval (default 15s); a connection that misses 3 in a row is dropped and reopened'),
    explore: SshExplore.optional().describe('the read-only commands explore_command may run on this host, for rules with an explore grant'),
    connectTimeout: duration.optional().describe('TCP connect, handshake and authentication, at most (default 10s)'),
    maxBytes: z.number().int().positive().default(1024 * 1024).describe('stdout and stderr kept per run, together; more sets truncated'),
  })
  .refine((ssh) => ssh.passphrase === undefined || ssh.privateKey !== undefined, { message: 'passphrase goes with privateKey', path: ['passphrase'] });
export type SshConnectionConfig = z.infer<typeof SshConnection>;
/** A Kubernetes object name that is also a DNS label (namespaces, containers). */
const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label: lowercase letters, digits and "-", at most 63 characters');
const KubernetesConnection = z
  .strictObject({
    name,
    type: z.literal('kubernetes'),
    masking: ConnectionMasking.optional(),
    kubeconfig: SecretRef.optional().describe('the kubeconfig file\'s content, as a secret reference (file:/etc/rungate/kubeconfig)'),
    context: z.string().min(1).optional().describe('the kubeconfig context to use; default its current-context'),
    inCluster: z.boolean().optional().describe('use the executor pod\'s service account instead of a kubeconfig'),
    namespace: dnsLabel.default('default').describe('the only namespace runbooks act in: manifests naming another, and cluster-scoped objects, are refused'),
    exec: z
      .strictObject({
        selector: z.string().min(1).describe('label selector of the pods shell runbooks run in (first Running and Ready pod, by name)'),
        container: dnsLabel.optional().describe('default: the pod\'s kubectl.kubernetes.io/default-container annotation, else its first container'),
      })
      .optional()
      .describe('where .sh runbooks run (`sh -s` in a pod); without it shell runbooks are refused on this connection'),
    warmSessions: z
      .number()
      .int()
      .min(0)
      .max(8)
      .default(1)
      .describe('idle `sh -s` exec sessions kept open per exec selector, so a shell runbook need not list pods and open one; 0 keeps none'),
    explore: KubernetesExplore.optional().describe('what explore_k8s and explore_logs may read here, for rules with an explore grant'),
    maxBytes: z.number().int().positive().default(1024 * 1024).describe('stdout and stderr kept per run, together; more sets truncated'),
  })
  .refine((k8s) => (k8s.kubeconfig !== undefined) !== (k8s.inCluster === true), {
    message: 'set exactly one of kubeconfig (a secret reference) or inCluster: true',
    path: ['kubeconfig'],
  })
  .refine((k8s) => k8s.context === undefined || k8s.kubeconfig !== undefined, { message: 'context selects a kubeconfig context; it needs kubeconfig', path: ['context'] });
export type KubernetesConnectionConfig = z.infer<typeof KubernetesConnection>;
/** What `export NAME=…` accepts; anything else could not reach a script as a variable. */
const SHELL_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ShellConnection = z.strictObject({
  name,
  type: z.literal('shell'),
  masking: ConnectionMasking.optional(),
  shell: z
    .string()
    .regex(/^\/\S*$/, 'the absolute path of one program, e.g. /bin/bash (the script is fed to it with -s)')
    .default('/bin/sh')
    .describe('the interpreter on the executor host that reads the script on stdin (`<shell> -s`)'),
  env: z
    .record(
      z.string(),
      z
        .string()
        .refine((value) => !value.includes('\0'), 'no environment can carry a NUL byte')
        .refine((value) => !/^(env|file):/.test(value) || SecretRef.safeParse(value).success, 'a value starting env: or file: is a secret reference: env:NAME or file:/path'),
    )
    .superRefine((env, ctx) => {
      for (const key of Object.keys(env)) {
        if (!SHELL_VARIABLE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'a shell variable name: letters, digits and "_", not starting with a digit' });
      }
    })
    .default({})
    .describe('the variables scripts get besides PATH, HOME and TMPDIR (which these override); env:NAME or file:/path values are secrets, resolved by the executor'),
  maxBytes: z.number().int().positive().default(1024 * 1024).describe('stdout and stderr kept per run, together; more sets truncated'),
});
export const ConnectionConfig = z.discriminatedUnion('type', [
  PostgresConnection,
  MysqlConnection,
  SshConnection,
  KubernetesConnection,
  ShellConnection,
]);
export type ConnectionConfig = z.infer<typeof ConnectionConfig>;
export type PostgresConnectionConfig = z.infer<typeof PostgresConnection>;

export const UserConfig = z.strictObject({
  name: z.string().min(1),
  groups: z.array(z.string().min(1)).default([]),
});

export const StaticTokenConfig = z.strictObject({
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'the lowercase hex sha256 of the token (never the token itself)')
    .describe('sha256 of the token; the token itself is never stored'),
  user: z.string().min(1),
  agent: z
    .string()
    .min(1)
    .optional()
    .describe('the agent name recorded in the audit log; required unless human: true, where it may name the client the human uses (e.g. cli)'),
  human: z
    .boolean()
    .optional()
    .describe('the human acting directly, not an agent: only such a credential may approve a held run (ADR 18 §3); leave it out for an agent\'s token'),
  runbooks: z.array(z.string()).optional().describe('narrows the human\'s rights to these runbook globs'),
  connections: z.array(z.string()).optional().describe('narrows the human\'s rights to these connections'),
  expiresAt: z.iso
    .datetime({ offset: true, error: 'an RFC 3339 time with its time zone, e.g. 2027-01-31T00:00:00Z' })
    .optional()
    .describe(
      'when the token stops working (RFC 3339 with a time zone, e.g. 2027-01-31T00:00:00Z); without it the token works until removed. ' +
        'An absolute time and not a relative ttl: a file has no moment a ttl would count from — its write time, a restart or each ' +
        'reload would each silently extend it — while every replica reads the same instant from the same line',
    ),
  scopes: z
    .array(AccessScope)
    .default([])
    .describe('permissions beyond running runbooks, given only when listed: audit:read lets the token query the audit trail (its human must also be in an auditor group)'),
}).refine((token) => token.agent !== undefined || token.human === true, {
  path: ['agent'],
  message: 'name the agent this token is for (recorded in the audit log), or set human: true for a human\'s own token',
});
export type StaticTokenConfig = z.infer<typeof StaticTokenConfig>;

/** How messages name a static token's holder: user/agent, or user/human for a human's own token without a client name. */
export function staticTokenHolder(token: Pick<StaticTokenConfig, 'user' | 'agent' | 'human'>): string {
  return `${token.user}/${token.agent ?? 'human'}${token.human && token.agent !== undefined ? ' (human)' : ''}`;
}

export const RuleConfig = z
  .strictObject({
    name: z.string().min(1),
    groups: z.array(z.string().min(1)).min(1).describe('any of these groups'),
    connections: z.array(z.string().min(1)).default([]).describe('connection names or globs (required unless the rule only grants explore)'),
    runbooks: z.array(z.string().min(1)).default([]).describe('globs over <repository>/<path>: * within a segment, ** across (required unless the rule only grants explore)'),
    params: z.record(z.string(), z.union([z.array(z.string()), z.strictObject({ pattern: z.string() })])).optional(),
    approval: ApprovalConfig.optional().describe('hold each run this rule allows until this many approvers said yes (ADR 18)'),
    guardrails: z.array(z.string().min(1)).min(1).optional().describe('guardrails (by name) that apply to every run this rule allows'),
    masking: MaskingSelection.optional().describe('masking profile for runs this rule allows, over the connection\'s; none: no masking'),
    explore: ExploreGrant.optional().describe('read-only exploration tools (explore_sql, explore_schema, explore_k8s, explore_logs, explore_command) for these groups on these connections (README: Exploration)'),
  })
  .superRefine((rule, ctx) => {
    // A rule grants runbooks on connections, or exploration, or both; never nothing.
    if (rule.explore !== undefined && rule.connections.length === 0 && rule.runbooks.length === 0) return;
    if (rule.connections.length === 0) ctx.addIssue({ code: 'custom', path: ['connections'], message: 'name at least one connection (or leave connections and runbooks out of a rule that only grants explore)' });
    if (rule.runbooks.length === 0) ctx.addIssue({ code: 'custom', path: ['runbooks'], message: 'name at least one runbook glob (or leave connections and runbooks out of a rule that only grants explore)' });
  });
export type RuleConfig = z.infer<typeof RuleConfig>;

export const OidcConfig = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }),
  /** The audience access tokens must carry: this gateway's resource identifier. */
  audience: z.string().min(1),
  /** Defaults to the issuer's discovery document's jwks_uri. */
  jwksUri: z.url({ protocol: /^https?$/ }).optional(),
  groupsClaim: z.string().min(1).default('groups'),
  userClaim: z.string().min(1).default('email'),
  /** Where the agent's name comes from: the OAuth client id. */
  agentClaims: z.array(z.string().min(1)).default(['client_id', 'azp']),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .default(['RS256', 'ES256', 'EdDSA']),
  /** Scopes the gateway advertises in its protected-resource metadata. */
  scopes: z.array(z.string()).default([]),
  humanClients: z
    .array(z.string().min(1))
    .default([])
    .refine((clients) => new Set(clients).size === clients.length, 'name each client once')
    .describe(
      "OAuth client ids whose access tokens are a human acting directly (matched against the client id agentClaims reads), e.g. a CLI's device-flow client: only those may approve a held run (ADR 18 §3). console.oidc.clientId counts as one without being listed; every other client is an agent",
    ),
});
export type OidcConfig = z.infer<typeof OidcConfig>;

/**
 * An approval nobody can give holds every run until it expires. With users: alone (no OIDC
 * issuer to bring other humans and groups), there must be as many humans in the approver groups
 * as the approval counts, one in each group when allGroups says so, and one in the break-glass
 * groups when it names any.
 */
function checkApprovers(
  config: { oidc?: unknown; users: { name: string; groups: string[] }[]; rules: { approval?: ApprovalConfig }[]; guardrails: { approval?: ApprovalConfig }[] },
  ctx: z.RefinementCtx,
): void {
  if (config.oidc !== undefined) return;
  const inGroups = (groups: readonly string[]) => config.users.filter((user) => user.groups.some((group) => groups.includes(group)));
  const check = (approval: ApprovalConfig | undefined, path: (string | number)[]) => {
    if (!approval) return;
    if (approval.breakGlassGroups && inGroups(approval.breakGlassGroups).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'approval', 'breakGlassGroups'],
        message: `break-glass groups ${approval.breakGlassGroups.join(', ')}, but no user in users: is in any of them: nobody could ever break glass`,
      });
    }
    for (const group of approval.allGroups ? approval.groups : []) {
      if (inGroups([group]).length > 0) continue;
      ctx.addIssue({ code: 'custom', path: [...path, 'approval', 'groups'], message: `allGroups needs an approver from ${group}, but no user in users: is in it: no run could ever be approved` });
    }
    const approvers = inGroups(approval.groups);
    if (approvers.length >= approval.count) return;
    const who = approvers.length === 0 ? 'no user in users: is in any of them' : `only ${approvers.map((u) => u.name).join(', ')} of users: ${approvers.length === 1 ? 'is' : 'are'} in them`;
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'approval', 'groups'],
      message: `${approval.count} approval${approval.count === 1 ? '' : 's'} from ${approval.groups.join(', ')}, but ${who}: no run could ever be approved`,
    });
  };
  config.rules.forEach((rule, index) => check(rule.approval, ['rules', index]));
  config.guardrails.forEach((guardrail, index) => check(guardrail.approval, ['guardrails', index]));
}

/** Every profile a connection or rule names exists; `none` is for rules, which override a connection. */
function checkMaskingSelections(
  config: { masking: { name: string }[]; connections: { masking?: string }[]; rules: { masking?: string }[] },
  ctx: z.RefinementCtx,
): void {
  const profiles = new Set(config.masking.map((profile) => profile.name));
  const known = profiles.size > 0 ? `one of ${[...profiles].join(', ')}` : 'masking: defines no profile';
  config.connections.forEach((connection, index) => {
    if (connection.masking === undefined) return;
    if (connection.masking === NO_MASKING) {
      ctx.addIssue({ code: 'custom', path: ['connections', index, 'masking'], message: 'leave masking out for no masking; none is for rules that override a connection' });
    } else if (!profiles.has(connection.masking)) {
      ctx.addIssue({ code: 'custom', path: ['connections', index, 'masking'], message: `unknown masking profile "${connection.masking}" (${known})` });
    }
  });
  config.rules.forEach((rule, index) => {
    if (rule.masking !== undefined && rule.masking !== NO_MASKING && !profiles.has(rule.masking)) {
      ctx.addIssue({ code: 'custom', path: ['rules', index, 'masking'], message: `unknown masking profile "${rule.masking}" (${known}, or none)` });
    }
  });
}
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Well under Node's 300 s default, which lets a slow client hold a connection for five minutes. */
const edgeTimeout = duration.refine((ms) => ms <= 300_000, 'at most 5m (a slow client holds a connection this long)');

const DEFAULT_AUTH_FAILURE_LIMIT = { failures: 20, window: 60_000 };
const AuthFailureLimit = z.strictObject({
  failures: z.number().int().positive().max(100_000).describe('failed bearer tokens from one source address per window'),
  window: duration.refine((ms) => ms <= 86_400_000, 'at most 24h').describe('how long a source is refused once it reached failures'),
});

const DEFAULT_ATTEMPT_LIMIT = { events: 20, window: 60_000, keys: 1000 };
const AttemptLimit = z.strictObject({
  events: z.number().int().positive().max(100_000).default(20).describe('attempt events recorded one by one per key and window'),
  window: duration.refine((ms) => ms <= 86_400_000, 'at most 24h').default(60_000),
  keys: z.number().int().positive().max(1_000_000).default(1000).describe('tokens and addresses told apart at once; further ones share one counter'),
});

/** Every explored connection exists, by name, and is of a type that can be explored read-only. */
function checkExploreGrants(
  config: { connections: { name: string; type: string; explore?: unknown }[]; rules: { explore?: { connections: string[] } }[] },
  ctx: z.RefinementCtx,
): void {
  const byName = new Map(config.connections.map((connection) => [connection.name, connection]));
  config.rules.forEach((rule, index) =>
    rule.explore?.connections.forEach((name, ci) => {
      const path = ['rules', index, 'explore', 'connections', ci];
      const connection = byName.get(name);
      if (!connection) {
        ctx.addIssue({ code: 'custom', path, message: `unknown connection "${name}" (explore names connections exactly, no globs)` });
        return;
      }
      const unsupported = EXPLORABLE[connection.type];
      if (unsupported !== undefined) ctx.addIssue({ code: 'custom', path, message: `${name} is a ${connection.type} connection: ${unsupported}` });
      else if (connection.type === 'ssh' && connection.explore === undefined) {
        ctx.addIssue({ code: 'custom', path, message: `${name} is an ssh connection without explore.commands: name the read-only commands it may run there` });
      }
    }),
  );
}

export const RungateConfig = z
  .strictObject({
    repositories: z.array(RepositoryConfig).min(1, 'at least one repository of runbooks is needed'),
    connections: z.array(ConnectionConfig).default([]),
    users: z.array(UserConfig).default([]),
    tokens: z.array(StaticTokenConfig).default([]),
    oidc: OidcConfig.optional(),
    rules: z.array(RuleConfig).default([]),
    guardrails: z.array(GuardrailConfig).default([]).describe('input and output checks attached to connections, runbooks or rules (README: Guardrails)'),
    masking: z.array(MaskingProfileConfig).default([]).describe('masking profiles executors apply to run output (libs/masking/README.md)'),
    gateway: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080).describe('the MCP endpoint\'s port (PORT overrides it; under rungate serve, --port)'),
        publicUrl: z
          .url({ protocol: /^https?$/ })
          .optional()
          .describe("the gateway's public URL, its OAuth resource identifier (RFC 9728); default: the address and port each request arrived at"),
        maxBodyBytes: z.number().int().positive().default(1024 * 1024).describe('largest request body the MCP endpoint reads (default 1 MiB); a larger one is answered 413'),
        callTimeout: duration
          .default(60_000)
          .describe(
            "longest a tools/call may take, authorization and run included (default 60s); then the run is stopped and audited timed_out. A run's limit is the smaller of this (less what authorization took) and its runbook's @timeout",
          ),
        heldCallWait: z
          .union([z.literal(0), duration])
          .default(0)
          .describe(
            'how long a tools/call held for approval stays open when its client asked for progress (_meta.progressToken), sending notifications/progress until the run is decided and answering its result; default 0: answer approval_required at once. At most callTimeout',
          ),
        headersTimeout: edgeTimeout
          .default(DEFAULT_HEADERS_TIMEOUT_MS)
          .describe("longest a client may take to send a request's headers (default 10s); then the connection is answered 408 and closed. Applies to every Rungate HTTP listener"),
        requestTimeout: edgeTimeout
          .default(DEFAULT_REQUEST_TIMEOUT_MS)
          .describe("longest a client may take to send a whole request, headers and body (default 30s; Node's own is 300s); then 408 and closed. The answer may take longer (callTimeout)"),
        authFailureLimit: AuthFailureLimit.default(DEFAULT_AUTH_FAILURE_LIMIT).describe(
          'failed bearer tokens one source address may send per window before it is answered 429 with Retry-After until the window ends (tokens that already worked from it keep working); default 20 per 1m',
        ),
      })
      .refine((gateway) => gateway.headersTimeout <= gateway.requestTimeout, { message: 'headersTimeout must not be longer than requestTimeout', path: ['headersTimeout'] })
      .refine((gateway) => gateway.heldCallWait <= gateway.callTimeout, {
        message: 'heldCallWait must not be longer than callTimeout, which bounds the whole call',
        path: ['heldCallWait'],
      })
      .default({
        host: '127.0.0.1',
        port: 8080,
        maxBodyBytes: 1024 * 1024,
        callTimeout: 60_000,
        heldCallWait: 0,
        headersTimeout: DEFAULT_HEADERS_TIMEOUT_MS,
        requestTimeout: DEFAULT_REQUEST_TIMEOUT_MS,
        authFailureLimit: DEFAULT_AUTH_FAILURE_LIMIT,
      }),
    gitSync: z
      .strictObject({
        cacheDir: z.string().default('.rungate/git').describe('where git-sync keeps its mirrors; under rungate serve the default is <data-dir>/git'),
        port: z.number().int().min(0).max(65535).default(8081).describe('git-sync\'s HTTP (webhooks, probes); rungate serve polls and does not listen'),
      })
      .default({ cacheDir: '.rungate/git', port: 8081 }),
    tickets: z
      .strictObject({
        signingKey: SecretRef.optional(),
        verifyKeys: z.array(SecretRef).default([]),
        ttl: duration.refine((ms) => ms <= 60_000, 'a run ticket lives at most 60s').default(30_000),
      })
      .default({ verifyKeys: [], ttl: 30_000 }),
    audit: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(8082).describe('the audit query API\'s port; under rungate serve, --port P puts it on P+2 (--audit-port overrides)'),
        consumer: z.string().regex(/^[A-Za-z0-9_-]+$/).optional().describe('durable consumer name of the chain writer; default rungate-audit'),
        deliver: z.enum(['all', 'new']).default('all').describe('where a new chain writer starts on the stream'),
        auditorGroups: z.array(z.string()).default(['auditors']).describe('groups allowed to query the audit API'),
        reviewerGroups: z
          .array(z.string())
          .default([])
          .describe('groups allowed to read exploration sessions and mark them reviewed, besides the auditor groups'),
        sinks: AuditSinkConfigs.default([]).describe('SIEM deliveries: webhook or syslog, native or OCSF (docs/siem.md)'),
        attemptLimit: AttemptLimit.default(DEFAULT_ATTEMPT_LIMIT).describe(
          'denied attempts recorded one by one per token (or source address) and window, by each gateway and policy replica; the rest are counted in one audit.attempt.suppressed event per window; default 20 per 1m, 1000 keys',
        ),
      })
      .default({ port: 8082, deliver: 'all', auditorGroups: ['auditors'], reviewerGroups: [], sinks: [], attemptLimit: DEFAULT_ATTEMPT_LIMIT }),
    console: ConsoleConfig.describe('the web console at /console (README: Web console, ADR 23)'),
  })
  .superRefine((config, ctx) => {
    const unique = (items: { name: string }[], key: string) => {
      const seen = new Set<string>();
      items.forEach((item, index) => {
        if (seen.has(item.name)) {
          ctx.addIssue({ code: 'custom', path: [key, index, 'name'], message: `duplicate name "${item.name}"` });
        }
        seen.add(item.name);
      });
    };
    unique(config.repositories, 'repositories');
    unique(config.connections, 'connections');
    unique(config.users, 'users');
    unique(config.rules, 'rules');
    unique(config.guardrails, 'guardrails');
    unique(config.masking, 'masking');
    checkMaskingSelections(config, ctx);
    if (config.console.oidc && !config.oidc) ctx.addIssue({ code: 'custom', path: ['console', 'oidc'], message: 'console.oidc signs in with the issuer of oidc:, and there is none' });
    const users = new Set(config.users.map((u) => u.name));
    config.tokens.forEach((token, index) => {
      if (!users.has(token.user)) {
        ctx.addIssue({ code: 'custom', path: ['tokens', index, 'user'], message: `unknown user "${token.user}" (not in users:)` });
      }
    });
    const connections = new Set(config.connections.map((c) => c.name));
    const knownConnections = (names: readonly string[] | undefined, path: (string | number)[]) =>
      names?.forEach((c, ci) => {
        if (!c.includes('*') && !c.includes('?') && !connections.has(c)) ctx.addIssue({ code: 'custom', path: [...path, ci], message: `unknown connection "${c}"` });
      });
    config.rules.forEach((rule, index) => knownConnections(rule.connections, ['rules', index, 'connections']));
    config.guardrails.forEach((guardrail, index) => knownConnections(guardrail.connections, ['guardrails', index, 'connections']));
    checkApprovers(config, ctx);
    const guardrails = new Set(config.guardrails.map((g) => g.name));
    const referenced = new Set<string>();
    config.rules.forEach((rule, index) =>
      rule.guardrails?.forEach((name, gi) => {
        referenced.add(name);
        if (!guardrails.has(name)) ctx.addIssue({ code: 'custom', path: ['rules', index, 'guardrails', gi], message: `unknown guardrail "${name}" (not in guardrails:)` });
      }),
    );
    // A SQL guardrail on a MySQL connection could only ever refuse (PostgreSQL's parser cannot read MySQL): say so now.
    config.guardrails.forEach((guardrail, index) => {
      if (!guardrail.match.sql) return;
      guardrail.connections?.forEach((glob, ci) => {
        const mysql = config.connections.filter((c) => c.type === 'mysql' && globMatch(glob, c.name)).map((c) => c.name);
        if (mysql.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['guardrails', index, 'connections', ci],
            message: `matches MySQL connection(s) ${mysql.join(', ')}: sql guardrails read PostgreSQL's grammar only; name the PostgreSQL connections, and use words or pattern for MySQL`,
          });
        }
      });
    });
    checkExploreGrants(config, ctx);
    // A guardrail attached to nothing protects nothing: most likely a forgotten line, so say so.
    config.guardrails.forEach((guardrail, index) => {
      if (!guardrail.connections && !guardrail.runbooks && !referenced.has(guardrail.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['guardrails', index],
          message: 'applies to nothing: give it connections or runbooks, or name it in a rule\'s guardrails (runbooks: ["**"] is every run)',
        });
      }
    });
  });
export type RungateConfig = z.infer<typeof RungateConfig>;
export type RungateConfigInput = z.input<typeof RungateConfig>;
