import type { ApprovalDecision, ApprovalState, ChangeWindow, ConnectionRef, HeldApprovers, MysqlQuoting, RequestMeta, RunLimits, TokenScope } from '@rungate/contracts';
import type { DataSource } from 'typeorm';

/** The requester's identity as the run ticket will carry it, and where the call came from. */
export interface ApprovalRequester {
  identity: {
    user: string;
    groups: string[];
    agent?: string;
    tokenId?: string;
    /** The token's narrowing, which the re-check after the quorum applies again (ADR 18 §5). */
    scope?: TokenScope;
  };
  meta: RequestMeta;
}

/** What the ticket signed after the quorum needs beyond body and parameters, fixed when the run was held. */
export interface HeldExecution {
  limits: RunLimits;
  readOnly: boolean;
  mysqlQuoting?: MysqlQuoting;
  action?: 'apply' | 'delete';
}

/** The approval in force: the strictest of the holds (ADR 18 §2), and the holds themselves. */
export interface HeldApproval {
  groups: string[];
  count: number;
  /** One approver from each of `groups` too (besides `count`). */
  allGroups?: boolean;
  /** One approver in any of these approves alone. */
  breakGlassGroups?: string[];
  ttlMs: number;
  /** The change windows of the holds that have one: an approved run starts only while every one is open (ADR 18 §1). */
  windows?: ChangeWindow[];
  holds: { by: 'rule' | 'guardrail'; name: string; reason?: string }[];
}

/** Who must approve, as the held run's views and its audit events show it: the approval without its holds and ttl. */
export function quorumOf(approval: Pick<HeldApproval, 'groups' | 'count' | 'allGroups' | 'breakGlassGroups'>): HeldApprovers {
  return {
    groups: approval.groups,
    count: approval.count,
    ...(approval.allGroups ? { allGroups: true as const } : {}),
    ...(approval.breakGlassGroups ? { breakGlassGroups: approval.breakGlassGroups } : {}),
  };
}

/** The groups that may decide a held run: its approver groups and its break-glass groups. */
export function deciderGroupsOf(approval: HeldApproval): string[] {
  return [...new Set([...approval.groups, ...(approval.breakGlassGroups ?? [])])];
}

/** Where an approved run waits for its change window: the slot it may start in. */
export function slotOf(run: Pick<ApprovalRunRecord, 'startsAt' | 'windowEndsAt'>): { startsAt?: string; windowEndsAt?: string } {
  return { ...(run.startsAt ? { startsAt: run.startsAt } : {}), ...(run.windowEndsAt ? { windowEndsAt: run.windowEndsAt } : {}) };
}

/** How a run ended once it left `executing` (or why it failed before): the executor's status and masked result. */
export interface HeldOutcome {
  status: 'succeeded' | 'failed';
  errorCode?: string;
  error?: string;
  result?: Record<string, unknown>;
}

export interface ApprovalRunRecord {
  runId: string;
  state: ApprovalState;
  requester: ApprovalRequester;
  tool: string;
  runbook: { repository: string; path: string; commit: string; sha256: string };
  connection: ConnectionRef;
  rule: string;
  body: string;
  bodySha256: string;
  /** Validated, password-typed values redacted (as every record has them). */
  params: Record<string, string>;
  env: Record<string, string>;
  execution: HeldExecution;
  approval: HeldApproval;
  decisions: ApprovalDecision[];
  outcome?: HeldOutcome;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  /** An approved run with change windows: the slot it may start in, from `startsAt` until `windowEndsAt` (the database's clock). */
  startsAt?: string;
  windowEndsAt?: string;
}

/** Where a newest-first page of a requester's tasks continues: strictly before this creation time (µs since the epoch) and id. */
export interface TaskPageKey {
  createdUs: string;
  id: string;
}

export type NewApprovalRun = Omit<ApprovalRunRecord, 'state' | 'decisions' | 'outcome' | 'createdAt' | 'updatedAt' | 'expiresAt' | 'startsAt' | 'windowEndsAt'>;

interface Row {
  run_id: string;
  state: ApprovalState;
  requester: ApprovalRequester;
  tool: string;
  runbook: ApprovalRunRecord['runbook'];
  connection: ConnectionRef;
  rule: string;
  body: string;
  body_sha256: string;
  params: Record<string, string>;
  env: Record<string, string>;
  execution: HeldExecution;
  approval: HeldApproval;
  decisions: ApprovalDecision[];
  outcome: HeldOutcome | null;
  created_at: Date | string;
  updated_at: Date | string;
  expires_at: Date | string;
  starts_at: Date | string | null;
  window_ends_at: Date | string | null;
}

/** Enough for every approver's list; a backlog larger than this is a problem of its own. */
const MAX_LISTED = 500;
/** How long past its runbook's timeout a run may stay `executing` before its outcome is declared unknown. */
const EXECUTING_GRACE_MS = 60_000;

function iso(value: Date | string): string {
  return new Date(value).toISOString();
}

/** A jsonb column may come back parsed (pg) or as text (some drivers): the same value either way. */
function json<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

/** TypeORM answers an UPDATE … RETURNING as [rows, affected count], a SELECT or an INSERT as the rows. */
function returned(result: unknown): Row[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as Row[];
  return result as Row[];
}

function recordOf(row: Row): ApprovalRunRecord {
  const outcome = row.outcome === null ? undefined : json(row.outcome);
  return {
    runId: row.run_id,
    state: row.state,
    requester: json(row.requester),
    tool: row.tool,
    runbook: json(row.runbook),
    connection: json(row.connection),
    rule: row.rule,
    body: row.body,
    bodySha256: row.body_sha256,
    params: json(row.params),
    env: json(row.env),
    execution: json(row.execution),
    approval: json(row.approval),
    decisions: json(row.decisions),
    ...(outcome ? { outcome } : {}),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    expiresAt: iso(row.expires_at),
    ...(row.starts_at === null || row.starts_at === undefined ? {} : { startsAt: iso(row.starts_at) }),
    ...(row.window_ends_at === null || row.window_ends_at === undefined ? {} : { windowEndsAt: iso(row.window_ends_at) }),
  };
}

/** An approved run that may start now: one without windows, or one inside the slot stored for it — on the database's clock. */
const STARTABLE = `((starts_at IS NULL AND COALESCE(jsonb_array_length(approval->'windows'), 0) = 0) OR (starts_at <= now() AND now() < window_ends_at))`;

/** Every state change of a held run: one conditional UPDATE, answered with the row it changed. */
export type Transition = {
  from: readonly ApprovalState[];
  /** Never `executing`: only `claim` starts a run, inside its window. */
  to: Exclude<ApprovalState, 'executing'>;
  outcome?: HeldOutcome;
};

/**
 * Held runs in Rungate's database (PGlite for `rungate serve`, PostgreSQL shared by every policy
 * replica). Each change is `UPDATE … WHERE run_id = $1 AND state = <the state it leaves>
 * RETURNING`: PostgreSQL re-checks the condition on the row as another replica left it, so
 * however decisions race, each approver counts once, exactly one of them completes the quorum
 * and exactly one caller moves the run on to `executing`. Time is the database's (`now()`),
 * the same clock for every replica.
 */
export class ApprovalRunStore {
  constructor(private readonly db: DataSource) {}

  /**
   * Stores a new held run, pending until `now() + ttl`. A run id already stored (the same
   * call again under its idempotency key) is left as it is and answered: `created` false.
   */
  async hold(run: NewApprovalRun): Promise<{ run: ApprovalRunRecord; created: boolean }> {
    const rows: Row[] = await this.db.query(
      `INSERT INTO approval_runs (run_id, state, requester, tool, runbook, connection, rule, body, body_sha256, params, env, execution, approval, expires_at)
       VALUES ($1, 'pending', $2::jsonb, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb, $12::jsonb, now() + $13 * interval '1 millisecond')
       ON CONFLICT (run_id) DO NOTHING
       RETURNING *`,
      [
        run.runId,
        JSON.stringify(run.requester),
        run.tool,
        JSON.stringify(run.runbook),
        JSON.stringify(run.connection),
        run.rule,
        run.body,
        run.bodySha256,
        JSON.stringify(run.params),
        JSON.stringify(run.env),
        JSON.stringify(run.execution),
        JSON.stringify(run.approval),
        run.approval.ttlMs,
      ],
    );
    const created = rows[0];
    if (created) return { run: recordOf(created), created: true };
    const existing = await this.get(run.runId);
    // Only a test deleting rows could remove it between the statements.
    if (!existing) return this.hold(run);
    return { run: existing, created: false };
  }

  async get(runId: string): Promise<ApprovalRunRecord | undefined> {
    const rows: Row[] = await this.db.query('SELECT * FROM approval_runs WHERE run_id = $1', [runId]);
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** The runs still waiting for a decision (not past their expiry), oldest first. */
  async pending(): Promise<ApprovalRunRecord[]> {
    const rows: Row[] = await this.db.query(`SELECT * FROM approval_runs WHERE state = 'pending' AND expires_at > now() ORDER BY created_at, run_id LIMIT ${MAX_LISTED}`);
    return rows.map(recordOf);
  }

  /**
   * Adds one approval to a pending, unexpired run this approver has not decided yet; the one
   * that completes the quorum moves it to `approved`: `approval.count` approvals and, with
   * `allGroups`, one of each group among the approvals' recorded `groups`; or at once, an
   * approval whose `groups` include a break-glass group. The quorum is evaluated in the same
   * UPDATE, on the row as a racing replica left it, so exactly one decision completes it.
   * Undefined when the run was not pending, had expired or already had this approver's
   * decision (read the run to say which).
   */
  async approve(runId: string, decision: ApprovalDecision): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET
         decisions = decisions || jsonb_build_array($2::jsonb),
         state = CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(COALESCE(approval->'breakGlassGroups', '[]'::jsonb)) b
                                   WHERE COALESCE($2::jsonb->'groups', '[]'::jsonb) @> jsonb_build_array(b))
                        OR ((SELECT count(*) FROM jsonb_array_elements(decisions) d WHERE d->>'verdict' = 'approved') + 1 >= (approval->>'count')::int
                            AND (COALESCE((approval->>'allGroups')::boolean, false) = false
                                 OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(approval->'groups') g
                                                WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(decisions || jsonb_build_array($2::jsonb)) d
                                                                  WHERE d->>'verdict' = 'approved' AND COALESCE(d->'groups', '[]'::jsonb) @> jsonb_build_array(g)))))
                      THEN 'approved' ELSE 'pending' END,
         updated_at = now()
       WHERE run_id = $1 AND state = 'pending' AND expires_at > now()
         AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(decisions) d WHERE d->'actor'->>'user' = $3)
       RETURNING *`,
        [runId, JSON.stringify(decision), decision.actor.user],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /**
   * The runs `user` requested (through any agent), newest first, strictly before `before`; each
   * with its page key. Read for that user's MCP tasks (ADR 18 §8).
   */
  async requestedBy(user: string, limit: number, before?: TaskPageKey): Promise<{ run: ApprovalRunRecord; key: TaskPageKey }[]> {
    const rows: (Row & { created_us: string })[] = await this.db.query(
      `SELECT *, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us FROM approval_runs
       WHERE requester->'identity'->>'user' = $1
         AND ($2::bigint IS NULL OR ((extract(epoch FROM created_at) * 1000000)::bigint, run_id) < ($2::bigint, $3::text))
       ORDER BY created_at DESC, run_id DESC LIMIT $4`,
      [user, before?.createdUs ?? null, before?.id ?? null, limit],
    );
    return rows.map((row) => ({ run: recordOf(row), key: { createdUs: row.created_us, id: row.run_id } }));
  }

  /**
   * Ends a pending, unexpired run of `user`'s as withdrawn (its requester cancelled its task):
   * it never executes, since no transition leaves `withdrawn` (each names the states it leaves).
   * Undefined when it was not pending, had expired, or is not theirs.
   */
  async withdraw(runId: string, user: string): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = 'withdrawn', updated_at = now()
       WHERE run_id = $1 AND state = 'pending' AND expires_at > now() AND requester->'identity'->>'user' = $2
       RETURNING *`,
        [runId, user],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** Ends a pending, unexpired run as rejected, with the decision; undefined when it was not pending. */
  async reject(runId: string, decision: ApprovalDecision): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET decisions = decisions || jsonb_build_array($2::jsonb), state = 'rejected', updated_at = now()
       WHERE run_id = $1 AND state = 'pending' AND expires_at > now()
       RETURNING *`,
        [runId, JSON.stringify(decision)],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** Moves the run from one of `from` to `to` (with how it ended); undefined when it was in none of them. */
  async transition(runId: string, change: Transition): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = $2, outcome = COALESCE($3::jsonb, outcome), updated_at = now()
       WHERE run_id = $1 AND state = ANY($4::text[])
       RETURNING *`,
        [runId, change.to, change.outcome ? JSON.stringify(change.outcome) : null, [...change.from]],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** The database's clock, which every replica shares: what a run's slot is computed from. */
  async now(): Promise<number> {
    const rows: { now: Date | string }[] = await this.db.query('SELECT now() AS now');
    return Date.parse(iso(rows[0]?.now ?? new Date()));
  }

  /**
   * Stores the slot an approved run with change windows may start in; once per run (the first
   * caller's slot stays, a racing replica's is not written). Answers the run as it then is.
   */
  async schedule(runId: string, slot: { startsAt: number; endsAt: number }): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET starts_at = $2::timestamptz, window_ends_at = $3::timestamptz, updated_at = now()
       WHERE run_id = $1 AND state = 'approved' AND starts_at IS NULL
       RETURNING *`,
        [runId, new Date(slot.startsAt).toISOString(), new Date(slot.endsAt).toISOString()],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : this.get(runId);
  }

  /**
   * Moves an approved run on to `executing` when it may start now — no window, or inside its
   * stored slot, on the database's clock; undefined otherwise (not approved, already claimed,
   * its slot not open). One conditional UPDATE: of racing replicas, exactly one claims it.
   */
  async claim(runId: string): Promise<ApprovalRunRecord | undefined> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = 'executing', updated_at = now()
       WHERE run_id = $1 AND state = 'approved' AND ${STARTABLE}
       RETURNING *`,
        [runId],
      ),
    );
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** Approved runs with change windows whose slot nobody computed yet (the policy that took the last approval stopped in between). */
  async unscheduled(): Promise<ApprovalRunRecord[]> {
    const rows: Row[] = await this.db.query(
      `SELECT * FROM approval_runs WHERE state = 'approved' AND starts_at IS NULL AND COALESCE(jsonb_array_length(approval->'windows'), 0) > 0 ORDER BY updated_at LIMIT ${MAX_LISTED}`,
    );
    return rows.map(recordOf);
  }

  /** Approved runs whose slot has not opened yet: each replica's sweep keeps a timer to their opening. */
  async waitingForWindow(): Promise<ApprovalRunRecord[]> {
    const rows: Row[] = await this.db.query(`SELECT * FROM approval_runs WHERE state = 'approved' AND starts_at > now() ORDER BY starts_at LIMIT ${MAX_LISTED}`);
    return rows.map(recordOf);
  }

  /**
   * Ends approved runs whose slot closed before anyone started them (every replica was down
   * for it): expired, with why. A run never starts outside its window, nor late in the next.
   * Answers the ones this call ended, so each is expired (and audited) once.
   */
  async expireMissedWindows(): Promise<ApprovalRunRecord[]> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = 'expired', updated_at = now(),
         outcome = jsonb_build_object('status', 'failed', 'errorCode', 'FORBIDDEN', 'error',
           'approved to start in its change window from ' || to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
           ' to ' || to_char(window_ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
           ', but no policy started it before the window closed; a run never starts outside its window: nothing was executed, request it again')
       WHERE state = 'approved' AND window_ends_at <= now()
       RETURNING *`,
      ),
    );
    return rows.map(recordOf);
  }

  /**
   * Expires the pending runs past their expiry (or only `runId`): answers the ones this call
   * expired, so however many replicas sweep at once, each run is expired (and audited) once.
   */
  async expireDue(runId?: string): Promise<ApprovalRunRecord[]> {
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = 'expired', updated_at = now()
       WHERE state = 'pending' AND expires_at <= now() AND ($1::text IS NULL OR run_id = $1)
       RETURNING *`,
        [runId ?? null],
      ),
    );
    return rows.map(recordOf);
  }

  /**
   * Runs a quorum approved that nobody moved on to `executing` for `olderThanMs` since they
   * could start (approved, or their window's slot opened; the policy that would have started
   * them stopped): the sweep starts them, and the conditional claim still lets exactly one
   * caller do it. A run whose slot is not open is never among them.
   */
  async stalledApproved(olderThanMs: number): Promise<ApprovalRunRecord[]> {
    const rows: Row[] = await this.db.query(
      `SELECT * FROM approval_runs WHERE state = 'approved' AND ${STARTABLE} AND COALESCE(starts_at, updated_at) < now() - $1 * interval '1 millisecond' ORDER BY updated_at LIMIT ${MAX_LISTED}`,
      [olderThanMs],
    );
    return rows.map(recordOf);
  }

  /**
   * Runs left `executing` well past their runbook's timeout (the policy that sent them stopped
   * before the executor answered): failed, outcome unknown — the audit trail has the
   * executor's own record of what happened.
   */
  async abandonStale(): Promise<ApprovalRunRecord[]> {
    const outcome: HeldOutcome = {
      status: 'failed',
      errorCode: 'OUTCOME_UNKNOWN',
      error: 'policy stopped before the executor reported this run; its outcome is unknown — check the audit log',
    };
    const rows = returned(
      await this.db.query(
        `UPDATE approval_runs SET state = 'failed', outcome = $1::jsonb, updated_at = now()
       WHERE state = 'executing' AND updated_at < now() - ((execution->'limits'->>'timeoutMs')::bigint + $2) * interval '1 millisecond'
       RETURNING *`,
        [JSON.stringify(outcome), EXECUTING_GRACE_MS],
      ),
    );
    return rows.map(recordOf);
  }
}
