import { z } from 'zod';

/**
 * The built-in exploration tools (ADR 19). Not runbooks: their names have no dot, so no
 * runbook tool (`<repository>.<path>`) can ever take one.
 */
export const ExplorationTool = z.enum(['explore_sql', 'explore_schema', 'explore_k8s', 'explore_logs', 'explore_command']);
export type ExplorationTool = z.infer<typeof ExplorationTool>;

/** `ses_` and 24 hex digits: a digest of who explored and when (or in which MCP session). */
export const SessionId = z.string().regex(/^ses_[0-9a-f]{24}$/, 'a session id: ses_ and 24 hex digits');
export type SessionId = z.infer<typeof SessionId>;

/**
 * The claim that makes a run ticket an exploration: executors run its body read-only (for SQL:
 * `BEGIN READ ONLY`, time limits, the connection's read-only role, always rolled back) whatever
 * policy's own check of it said. Strict, like every claim: an executor that does not know a
 * field refuses the ticket.
 */
export const ExploreClaim = z.strictObject({
  tool: ExplorationTool,
  /** The exploration session the run belongs to, so every event of it names the session. */
  session: SessionId,
});
export type ExploreClaim = z.infer<typeof ExploreClaim>;

/** Kubernetes object kinds `explore_k8s` reads; Secrets are never among them. */
export const KubernetesExploreKind = z.enum([
  'pods',
  'deployments',
  'statefulsets',
  'daemonsets',
  'replicasets',
  'jobs',
  'cronjobs',
  'services',
  'endpoints',
  'ingresses',
  'configmaps',
  'events',
  'persistentvolumeclaims',
]);
export type KubernetesExploreKind = z.infer<typeof KubernetesExploreKind>;

/**
 * The body of a Kubernetes exploration run: one read, built by policy from the tool's
 * arguments and signed by its hash. The executor maps it to GET requests only.
 */
export const KubernetesReadRequest = z.discriminatedUnion('read', [
  z.strictObject({
    read: z.literal('objects'),
    kind: KubernetesExploreKind,
    namespace: z.string().min(1).max(63),
    name: z.string().min(1).max(253).optional(),
  }),
  z.strictObject({
    read: z.literal('logs'),
    namespace: z.string().min(1).max(63),
    pod: z.string().min(1).max(253),
    container: z.string().min(1).max(63).optional(),
    tailLines: z.number().int().positive().max(10_000),
    sinceSeconds: z.number().int().positive().max(7 * 86_400).optional(),
    previous: z.boolean().default(false),
  }),
]);
export type KubernetesReadRequest = z.infer<typeof KubernetesReadRequest>;

/**
 * The body of an SSH exploration run: an argv from the connection's allow-list, its
 * placeholders filled with validated values. The executor checks it against its own config.
 */
export const CommandRequest = z.strictObject({
  command: z.string().min(1),
  argv: z.array(z.string()).min(1).max(64),
});
export type CommandRequest = z.infer<typeof CommandRequest>;

/** `audit.admin.session.reviewed`: a reviewer read a session's transcript; the comment is theirs. */
export const SESSION_REVIEWED = 'audit.admin.session.reviewed';

/** One exploration session, as `rungate sessions list` and `GET /audit/sessions` show it. */
export const SessionSummary = z.object({
  id: SessionId,
  user: z.string(),
  agent: z.string().optional(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  calls: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  tools: z.array(z.string()),
  connections: z.array(z.string()),
  reviews: z.number().int().nonnegative(),
});
export type SessionSummary = z.infer<typeof SessionSummary>;

/** One call of a session: what was asked, what was decided, what came back (sizes and counts, never the rows). */
export const TranscriptEntry = z.object({
  runId: z.string(),
  time: z.string(),
  tool: z.string(),
  connection: z.string().optional(),
  /** The full statement (explore_sql), or the read or command asked for. */
  request: z.record(z.string(), z.string()),
  decision: z.enum(['allow', 'deny']),
  reason: z.string().optional(),
  status: z.string().optional(),
  rows: z.number().int().optional(),
  rowCount: z.number().int().optional(),
  bytes: z.number().int().optional(),
  truncated: z.boolean().optional(),
  durationMs: z.number().optional(),
  errorCode: z.string().optional(),
  error: z.string().optional(),
  masked: z.record(z.string(), z.number().int()).optional(),
  fingerprint: z.string().optional(),
});
export type TranscriptEntry = z.infer<typeof TranscriptEntry>;

export const SessionReview = z.object({ time: z.string(), reviewer: z.string(), comment: z.string() });
export type SessionReview = z.infer<typeof SessionReview>;

export const SessionTranscript = z.object({
  session: SessionSummary,
  entries: z.array(TranscriptEntry),
  reviews: z.array(SessionReview),
});
export type SessionTranscript = z.infer<typeof SessionTranscript>;

export const SessionReviewRequest = z.strictObject({ comment: z.string().trim().min(1, 'a review needs a comment').max(4000) });
export type SessionReviewRequest = z.infer<typeof SessionReviewRequest>;

/** What agents asked for and could not do, or did by hand again and again: `rungate backlog`. */
export const BacklogItem = z.object({
  kind: z.enum(['missing-tool', 'denied-tool', 'repeated-query']),
  /** The tool asked for, or the fingerprint of a repeated statement. */
  key: z.string(),
  /** An example: the tool name, or the latest statement with that fingerprint. */
  example: z.string(),
  count: z.number().int().positive(),
  agents: z.number().int().nonnegative(),
  users: z.number().int().nonnegative(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  /** A run to start a proposal from (`rungate runbooks propose --from-run`). */
  runId: z.string().optional(),
  connection: z.string().optional(),
  score: z.number(),
});
export type BacklogItem = z.infer<typeof BacklogItem>;
