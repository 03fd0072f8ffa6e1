import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { WINDOW_HORIZON_DAYS, nextOpening, type ApprovalConfig, type ConnectionConfig } from '@rungate/config';
import {
  MAX_PARAMS_BYTES,
  MAX_TICKET_CHARS,
  RUN_STATUS_TOOL,
  RunEventTypes,
  RungateError,
  describeWindow,
  type AttemptCode,
  type AuditEventInput,
  type AuthorizeReply,
  type AuthorizeRequest,
  type ChangeWindow,
  type Identity,
  type RunbookEntry,
  type RunLimits,
} from '@rungate/contracts';
import { describeFindings, guardrailRecord, guardrailVerdict, type GuardrailFinding } from '@rungate/guardrails';
import { actorOf, setRunId, type AuditSink } from '@rungate/messaging';
import {
  allowedConnections,
  argumentsDigest,
  builtinTool,
  checkIdempotencyKey,
  connectionGrants,
  decide,
  guardrailsHold,
  mayBeHeld,
  runbookKey,
  supportsDryRun,
  type Decision,
} from '@rungate/policy';
import {
  RenderError,
  redactParams,
  envFor,
  renderRunbook,
  sqlDialectOf,
  validateArguments,
  type ParameterError,
  type ParsedRunbook,
  type SqlDialect,
} from '@rungate/runbooks';
import { AUDIT_SINK, AttemptAudit, CONFIG, Metrics, type ConfigHolder } from '@rungate/runtime';
import { sha256Hex } from '@rungate/tickets';
import { CatalogStore } from './catalog.store';
import { ExplorationAuthorizer } from './exploration-authorizer';
import { GuardrailSet } from './guardrail-set';
import { IdempotencyStore } from './idempotency-store';
import { quorumOf } from '@rungate/persistence';
import { HeldRuns } from './held-runs';
import { Refusal, isRecorded, recordedAnswer, refusalOf, type RefusalBase, type RefusalRecord } from './refusal';
import { RunStatusTool } from './run-status-tool';
import { prepareRunbookTicket, type RunbookClaims } from './run-ticket';
import { TicketSigner } from './ticket-signer';

const DEFAULT_MAX_ROWS = 1000;
/** A refusal describes at most this many parameter errors, names cut to this length: it must fit one audit event. */
const DESCRIBED_ERRORS = 10;
const DESCRIBED_NAME_CHARS = 64;

/**
 * A retried call (same human, same tool, same idempotency key) gets the same run id, and
 * the executors' run ledger refuses a run id it has seen: the retry never executes twice.
 */
export function runIdFor(identity: Identity, tool: string, idempotencyKey?: string): string {
  if (!idempotencyKey) return randomUUID();
  const digest = createHash('sha256').update(`${identity.user}\u0000${tool}\u0000${idempotencyKey}`).digest('hex');
  return `${digest.slice(0, 8)}-${digest.slice(8, 12)}-4${digest.slice(13, 16)}-a${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
}

/** Why a run must wait for an approval: a rule's `approval:` or a require_approval guardrail. */
export interface ApprovalHold {
  by: 'rule' | 'guardrail';
  name: string;
  approval: ApprovalConfig;
  /** A guardrail's message: what in the run needs a second pair of eyes. */
  reason?: string;
}

function approvalHolds(decision: Extract<Decision, { effect: 'allow' | 'approval_required' }>, findings: readonly GuardrailFinding[]): ApprovalHold[] {
  const holds: ApprovalHold[] = decision.effect === 'approval_required' ? [{ by: 'rule', name: decision.rule, approval: decision.approval }] : [];
  for (const finding of findings) {
    if (finding.approval) holds.push({ by: 'guardrail', name: finding.guardrail, approval: finding.approval, reason: finding.message });
  }
  return holds;
}

/**
 * The approval a run held by several holds needs (ADR 18 §2): the largest count and the
 * shortest ttl of them, any of their groups approving; one from each of those groups when any
 * hold says `allGroups`; and break glass only through a group every hold names as break-glass
 * (a hold without breakGlassGroups never lets one approver alone release it). A run starts
 * only while every hold's change window is open (ADR 18 §1).
 */
export function strictestApproval(holds: readonly ApprovalHold[]): HeldApprovalConfig {
  const groups = [...new Set(holds.flatMap((h) => h.approval.groups))];
  const [first, ...rest] = holds.map((h) => h.approval.breakGlassGroups ?? []);
  const breakGlassGroups = (first ?? []).filter((g) => rest.every((names) => names.includes(g)));
  const windows = holds.flatMap((h) => (h.approval.window ? [h.approval.window] : []));
  return {
    groups,
    count: Math.max(...holds.map((h) => h.approval.count)),
    ttl: Math.min(...holds.map((h) => h.approval.ttl)),
    ...(holds.some((h) => h.approval.allGroups === true) ? { allGroups: true } : {}),
    ...(breakGlassGroups.length > 0 ? { breakGlassGroups } : {}),
    ...(windows.length > 0 ? { windows } : {}),
  };
}

/** The approval several holds combine to: each hold's change window must be open for the run to start (the intersection). */
export type HeldApprovalConfig = Omit<ApprovalConfig, 'window'> & { windows?: ChangeWindow[] };

function parseDryRun(value: unknown): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new RungateError('INVALID_PARAMS', 'dryRun: must be true or false', { parameter: 'dryRun', constraint: 'type' });
}

/** Parameter errors as one message, bounded whatever the caller sent (thousands of unknown names, a name of a megabyte). */
export function describeParameterErrors(errors: readonly ParameterError[]): { message: string; errors: ParameterError[] } {
  const clip = (name: string) => (name.length > DESCRIBED_NAME_CHARS ? `${name.slice(0, DESCRIBED_NAME_CHARS)}…` : name);
  const described = errors.slice(0, DESCRIBED_ERRORS).map((e) => ({ ...e, parameter: clip(e.parameter) }));
  const more = errors.length > DESCRIBED_ERRORS ? `; and ${errors.length - DESCRIBED_ERRORS} more` : '';
  return { message: described.map((e) => `${e.parameter}: ${e.message}`).join('; ') + more, errors: described };
}

/** Bytes of the validated parameters as a JSON object: what MAX_PARAMS_BYTES bounds (ADR 13). */
function paramsBytes(values: Record<string, string>): number {
  return Buffer.byteLength(JSON.stringify(values), 'utf8');
}

@Injectable()
export class Authorizer {
  private readonly log = new Logger(Authorizer.name);

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly catalog: CatalogStore,
    private readonly signer: TicketSigner,
    private readonly guardrails: GuardrailSet,
    private readonly idempotency: IdempotencyStore,
    private readonly attempts: AttemptAudit,
    private readonly exploration: ExplorationAuthorizer,
    private readonly held: HeldRuns,
    private readonly runStatus: RunStatusTool,
  ) {}

  /**
   * Every answer is on the record before it is given: an allowed run as `audit.run.decided`,
   * every refusal — unknown or hidden tool, forbidden connection, invalid parameters or key, a
   * rule's or a guardrail's denial, an internal error — as one `audit.attempt.denied` with the
   * caller, the tool as requested and, once the runbook is known, a run id (issue 15, ADR 17).
   */
  async authorize(request: AuthorizeRequest): Promise<AuthorizeReply> {
    try {
      // Built-in tools are never held, so none is called as an MCP task (ADR 18 §8).
      if (request.task && (request.tool === RUN_STATUS_TOOL || builtinTool(request.tool))) throw taskNotSupported(request.tool, 'it is built in and never held');
      // Built-in tools have their own decision (libs/policy builtin-tools); every other name is a runbook's.
      if (request.tool === RUN_STATUS_TOOL) return await this.runStatus.answer(request);
      return builtinTool(request.tool) ? await this.exploration.authorize(request) : await this.decideCall(request);
    } catch (error) {
      // A refused exploration is already on the record, in its session (ADR 19).
      if (isRecorded(error)) throw error;
      throw await this.recordRefusal(request, error);
    }
  }

  private async decideCall(request: AuthorizeRequest): Promise<AuthorizeReply> {
    const { identity } = request;
    const entry = this.catalog.find(request.tool);
    const { connection: connectionArg, dryRun: dryRunArg, ...args } = request.arguments;
    const connection = this.chooseConnection(identity, entry, connectionArg);
    if (request.task) this.checkTaskSupport(identity, entry);
    const key = checkIdempotencyKey(request.idempotencyKey);
    const runId = runIdFor(identity, request.tool, key.ok ? key.key : undefined);
    setRunId(runId);
    const { runbook, commit } = await this.catalog.load(entry);
    const auditBase: AuditEventInput = {
      type: RunEventTypes.decided,
      source: 'policy',
      runId,
      tool: entry.tool,
      actor: actorOf(identity, request.meta),
      runbook: { repository: entry.repository, path: entry.path, commit, sha256: entry.sha256 },
      connection: { name: connection.name, type: connection.type },
    };

    if (!key.ok) {
      const error = new RungateError('INVALID_PARAMS', `idempotency key: ${key.problem}`, { parameter: 'idempotencyKey', constraint: 'idempotency-key' });
      return this.refuse(auditBase, 'invalid-idempotency-key', error, { details: key.recorded });
    }

    const values = await this.validate(auditBase, runbook, args);
    const dryRun = await this.dryRunFor(auditBase, entry, dryRunArg);
    const params = redactParams(runbook, values);
    const decided = { ...auditBase, params };
    const dialect = sqlDialectOf(connection);
    const body = await this.render(decided, runbook, values, dialect);
    const decision = decide({ identity, runbook: runbookKey(entry), connection: connection.name, params: values }, this.config.current.rules);
    if (decision.effect === 'deny') return this.refuse(decided, decision.family, new RungateError('FORBIDDEN', decision.reason, { family: decision.family }));
    // Input guardrails judge the body exactly as it would run, before anything is signed.
    const guardrails = this.guardrails.current;
    const subject = { connection: connection.name, runbook: runbookKey(entry), rule: decision.rule };
    const findings = guardrails.checkInput({ ...subject, body, language: entry.language, dialect: dialect?.kind, params: values });
    const verdict = guardrailVerdict(findings);
    const records = findings.length > 0 ? { guardrails: findings.map(guardrailRecord) } : {};
    if (verdict.denied.length > 0) {
      const reason = describeFindings(verdict.denied);
      const error = new RungateError('GUARDRAIL_BLOCKED', `${reason}; nothing was run`, { guardrails: verdict.denied.map((f) => f.guardrail) });
      return this.refuse({ ...decided, ...records }, 'guardrail', error, { reason, rule: decision.rule });
    }
    const limits: RunLimits = {
      timeoutMs: entry.metadata.timeoutMs,
      maxRows: connection.type === 'postgres' || connection.type === 'mysql' ? connection.maxRows : DEFAULT_MAX_ROWS,
      maxBytes: connection.maxBytes,
    };
    const claims: RunbookClaims = {
      runId,
      identity: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId },
      runbook: { repository: entry.repository, path: entry.path, commit, sha256: entry.sha256 },
      bodySha256: sha256Hex(body),
      tool: entry.tool,
      connection: { name: connection.name, type: connection.type },
      params,
      env: envFor(runbook, values),
      limits,
      readOnly: entry.metadata.readOnly,
      dryRun,
      ...(dialect?.kind === 'mysql' ? { mysqlQuoting: dialect.quoting } : {}),
      ...(entry.metadata.action ? { action: entry.metadata.action } : {}),
      rule: decision.rule,
    };
    // A dry run changes nothing, and is how an agent shows an approver what the run would do: never held.
    const holds = dryRun ? [] : approvalHolds(decision, verdict.approvals);
    if (holds.length > 0) return this.holdForApproval({ ...decided, ...records }, request, holds, claims, body, { key: key.key, values });

    const { ticket: prepared, outputGuardrails, masking } = prepareRunbookTicket(this.signer, this.config.current, guardrails, connection, claims);
    if (prepared.length > MAX_TICKET_CHARS) {
      // MAX_PARAMS_BYTES keeps parameters well inside the ticket; this is the rest of it (very many groups).
      const error = new RungateError('PARAMS_TOO_LARGE', `the run ticket would be ${prepared.length} characters; the limit is ${MAX_TICKET_CHARS}, so the run was not executed`);
      return this.refuse({ ...decided, ...records }, 'params-too-large', error, { rule: decision.rule, details: { ticketChars: prepared.length, limit: MAX_TICKET_CHARS } });
    }
    if (key.key) await this.bindIdempotencyKey({ ...decided, ...records }, key.key, { connection: connection.name, dryRun, values });

    Metrics.decisions.inc({ effect: 'allow' });
    const recorded = this.audit.publish({
      ...decided,
      decision: { effect: 'allow', rule: decision.rule },
      ...records,
      details: {
        dryRun,
        idempotencyKey: key.key,
        ...(outputGuardrails.length > 0 ? { outputGuardrails: outputGuardrails.map((g) => g.name) } : {}),
        ...(masking ? { masking: masking.profile } : {}),
      },
    });
    // Signed while `decided` is on its way (nats.js writes it in a microtask queued before this
    // one), answered only once it is acknowledged: no ticket leaves without its record (ADR 20).
    const [ticket] = await Promise.all([Promise.resolve().then(() => prepared.sign()), recorded]);
    return { effect: 'allow', runId, connection: { name: connection.name, type: connection.type }, ticket, body, timeoutMs: entry.metadata.timeoutMs };
  }

  /** Every declared constraint, then the one size limit of parameters (ADR 13). */
  private async validate(base: AuditEventInput, runbook: ParsedRunbook, args: Record<string, unknown>): Promise<Record<string, string>> {
    const validation = validateArguments(runbook, args);
    if (!validation.ok) {
      const { message, errors } = describeParameterErrors(validation.errors);
      return this.refuse(base, 'invalid-params', new RungateError('INVALID_PARAMS', message, { errors }));
    }
    const bytes = paramsBytes(validation.values);
    if (bytes > MAX_PARAMS_BYTES) {
      const error = new RungateError(
        'PARAMS_TOO_LARGE',
        `the parameters take ${bytes} bytes as JSON; the limit is ${MAX_PARAMS_BYTES}: pass large data by reference (a path, a URL, an id) rather than as a value`,
        { bytes, limit: MAX_PARAMS_BYTES },
      );
      const parameterBytes = Object.fromEntries(Object.entries(validation.values).map(([name, value]) => [name, Buffer.byteLength(value, 'utf8')]));
      return this.refuse(base, 'params-too-large', error, { details: { paramsBytes: bytes, limit: MAX_PARAMS_BYTES, parameterBytes } });
    }
    return validation.values;
  }

  private async dryRunFor(base: AuditEventInput, entry: RunbookEntry, value: unknown): Promise<boolean> {
    let dryRun: boolean;
    try {
      dryRun = parseDryRun(value);
    } catch (error) {
      return this.refuse(base, 'dry-run-refused', error as RungateError);
    }
    if (dryRun && !supportsDryRun(entry)) {
      const error = new RungateError('INVALID_PARAMS', 'dryRun: only SQL runbooks and Kubernetes manifests support a dry run', { parameter: 'dryRun', constraint: 'language' });
      return this.refuse(base, 'dry-run-refused', error);
    }
    return dryRun;
  }

  /** A value that passed its declarations can still fail its output helpers (decodeb64 of something that is not base64 text). */
  private async render(base: AuditEventInput, runbook: ParsedRunbook, values: Record<string, string>, dialect: SqlDialect | undefined): Promise<string> {
    try {
      return renderRunbook(runbook, values, dialect);
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      return this.refuse(base, 'invalid-params', new RungateError('INVALID_PARAMS', error.message, { parameter: error.parameter, constraint: 'render' }));
    }
  }

  /**
   * The first allowed call binds its idempotency key to its arguments. The same call again
   * goes on under the same run id (the run ledger then answers that it already ran); another
   * call under the key is refused, and recorded under a run id of its own, so the first run's
   * record keeps one set of parameters.
   */
  private async bindIdempotencyKey(base: AuditEventInput, key: string, call: Parameters<typeof argumentsDigest>[1]): Promise<void> {
    const runId = base.runId as string;
    const binding = await this.idempotency.bind(runId, argumentsDigest(this.signer.digestKey, call), this.signer.keyId);
    if (binding.ok) return;
    const attempt = randomUUID();
    setRunId(attempt);
    const why =
      binding.reason === 'other-arguments'
        ? 'with other arguments (connection, dryRun or parameter values)'
        : "before policy's ticket signing key changed, so this call cannot be shown to be the same";
    const error = new RungateError('IDEMPOTENCY_CONFLICT', `idempotency key ${key} was used for run ${runId} ${why}; nothing was executed: use a new key for a different call`, {
      runId,
    });
    await this.refuse({ ...base, runId: attempt }, 'idempotency-conflict', error, { details: { idempotencyKey: key, conflictsWithRun: runId } });
  }

  /** A task-augmented call is for a tool that may be held, exactly as tools/list says with taskSupport (ADR 18 §8). */
  private checkTaskSupport(identity: Identity, entry: RunbookEntry): void {
    const { connections, rules, guardrails } = this.config.current;
    if (!this.held.available) throw taskNotSupported(entry.tool, 'this policy has no database to hold runs in');
    if (!mayBeHeld(connectionGrants(identity, entry, connections, rules), guardrailsHold(guardrails))) throw taskNotSupported(entry.tool, `no rule or guardrail ever holds it for ${identity.user}`);
  }

  private chooseConnection(identity: Identity, entry: RunbookEntry, requested: unknown): ConnectionConfig {
    const { connections, rules } = this.config.current;
    const allowed = allowedConnections(identity, entry, connections, rules);
    // A tool this caller may not run anywhere is one they cannot see: answer exactly as for a
    // tool that does not exist, so a denial never reveals which runbooks exist. The audit
    // trail, which the caller cannot read, says what it was.
    if (allowed.length === 0) {
      throw new Refusal(new RungateError('UNKNOWN_TOOL', `unknown tool ${entry.tool}`), 'hidden-tool', {}, { reason: `${identity.user} may not run ${runbookKey(entry)} on any connection` });
    }
    if (requested !== undefined) {
      if (typeof requested !== 'string') {
        throw new Refusal(new RungateError('INVALID_PARAMS', 'connection: must be a connection name', { parameter: 'connection', constraint: 'type' }), 'invalid-params');
      }
      const chosen = allowed.find((c) => c.name === requested);
      if (!chosen) throw this.forbiddenConnection(entry, requested);
      return chosen;
    }
    if (allowed.length === 1) return allowed[0] as ConnectionConfig;
    const error = new RungateError('INVALID_PARAMS', `connection: required; one of ${allowed.map((c) => c.name).join(', ')}`, {
      parameter: 'connection',
      constraint: 'required',
    });
    throw new Refusal(error, 'invalid-params');
  }

  /** The same answer whether the connection exists or not; the record names it when it does. */
  private forbiddenConnection(entry: RunbookEntry, requested: string): Refusal {
    const known = this.config.current.connections.find((c) => c.name === requested);
    const error = new RungateError('FORBIDDEN', `you may not run ${entry.tool} on connection ${requested}`, { family: 'no-rule' });
    return new Refusal(error, 'forbidden-connection', known ? { connection: { name: known.name, type: known.type } } : {}, {
      details: { connection: requested, connectionExists: Boolean(known) },
    });
  }

  /**
   * The one place a run waits for an approval, whoever asked for it (a rule's `approval:`, a
   * require_approval guardrail). Called after rendering and the input guardrails: the run is
   * stored with exactly what will run (ADR 18 §2), nothing is signed, and the request is on the
   * record (`audit.run.decided`, effect approval_required) before the agent hears of it. The
   * same call again under its idempotency key answers the stored run; it never asks twice.
   */
  private async holdForApproval(
    base: AuditEventInput,
    request: AuthorizeRequest,
    holds: readonly ApprovalHold[],
    claims: RunbookClaims,
    body: string,
    call: { key?: string; values: Record<string, string> },
  ): Promise<AuthorizeReply> {
    const why = holds.map((h) => `${h.by} ${h.name} requires approval by ${h.approval.groups.join(', ')}${h.reason ? ` (${h.reason})` : ''}`).join('; ');
    if (!this.held.available) {
      const error = new RungateError('APPROVAL_REQUIRED', `${why}; a held run is stored in Rungate's database, which this policy has none of (DATABASE_URL), so the run was not executed`);
      return this.refuse(base, 'approval', error, { reason: 'approval required but policy has no database to hold the run in', rule: claims.rule });
    }
    const { runId, connection } = claims;
    if (call.key) await this.bindIdempotencyKey(base, call.key, { connection: connection.name, dryRun: false, values: call.values });
    const approval = strictestApproval(holds);
    if (approval.windows && !nextOpening(approval.windows, Date.now())) {
      const windows = holds.filter((h) => h.approval.window).map((h) => `${h.by} ${h.name}: ${describeWindow(h.approval.window as ChangeWindow)}`);
      const error = new RungateError(
        'APPROVAL_REQUIRED',
        `${why}; but its change windows (${windows.join('; ')}) do not open together within ${WINDOW_HORIZON_DAYS} days, so an approved run could never start: nothing was held or executed`,
      );
      return this.refuse(base, 'approval', error, { reason: 'the change windows of the holds never open together', rule: claims.rule });
    }
    const store = await this.held.store();
    const { identity, meta } = request;
    const { run, created } = await store.hold({
      runId,
      requester: { identity: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId, scope: identity.scope }, meta },
      tool: claims.tool as string,
      runbook: claims.runbook as NonNullable<RunbookClaims['runbook']>,
      connection,
      rule: claims.rule,
      body,
      bodySha256: claims.bodySha256,
      params: claims.params,
      env: claims.env,
      execution: {
        limits: claims.limits,
        readOnly: claims.readOnly,
        ...(claims.mysqlQuoting ? { mysqlQuoting: claims.mysqlQuoting } : {}),
        ...(claims.action ? { action: claims.action } : {}),
      },
      approval: {
        ...quorumOf(approval),
        ttlMs: approval.ttl,
        ...(approval.windows ? { windows: approval.windows } : {}),
        holds: holds.map(({ by, name, reason }) => ({ by, name, ...(reason ? { reason } : {}) })),
      },
    });
    // The key's binding (a day) can be younger than the run it names (a ttl of up to a week): compare what would run.
    if (!created && (run.bodySha256 !== claims.bodySha256 || run.connection.name !== connection.name)) {
      const error = new RungateError('IDEMPOTENCY_CONFLICT', `idempotency key ${call.key} was used for held run ${runId} with other arguments; nothing was executed: use a new key for a different call`, {
        runId,
      });
      return this.refuse({ ...base, runId: randomUUID() }, 'idempotency-conflict', error, { details: { idempotencyKey: call.key, conflictsWithRun: runId } });
    }
    const approvers = quorumOf(run.approval);
    const windows = run.approval.windows ? { windows: run.approval.windows } : {};
    if (created) {
      try {
        await this.audit.publish({
          ...base,
          decision: { effect: 'approval_required', rule: claims.rule, reason: why },
          details: { approvers, expiresAt: run.expiresAt, ...windows, holds: run.approval.holds, idempotencyKey: call.key },
        });
      } catch (error) {
        // Never a run waiting for approvers that the record does not show: it ends here, before anyone sees it.
        await store
          .transition(runId, { from: ['pending'], to: 'failed', outcome: { status: 'failed', errorCode: 'AUDIT_UNAVAILABLE', error: 'the request could not be put on the record; nothing was executed' } })
          .catch(() => undefined);
        throw error;
      }
    }
    Metrics.decisions.inc({ effect: 'approval_required' });
    return { effect: 'approval_required', runId, approvers, expiresAt: run.expiresAt, state: run.state, ...windows, ...(run.startsAt ? { startsAt: run.startsAt } : {}) };
  }

  /** Refuses the call: `authorize` records it once (the agent's answer waits for that) and answers `error`. */
  private async refuse(base: RefusalBase, code: AttemptCode, error: RungateError, record: RefusalRecord = {}): Promise<never> {
    throw new Refusal(error, code, base, record);
  }

  /** Records a refused call once and returns what to answer. */
  private async recordRefusal(request: AuthorizeRequest, error: unknown): Promise<RungateError> {
    const refusal = refusalOf(error);
    if (!(error instanceof RungateError || error instanceof Refusal)) {
      this.log.error(`refused ${request.tool} on an internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    const { base, record } = refusal;
    const reason = record.reason ?? refusal.answer.message;
    Metrics.decisions.inc({ effect: 'deny' });
    try {
      await this.attempts.record({
        source: 'policy',
        actor: actorOf(request.identity, request.meta),
        code: refusal.code,
        reason,
        answered: refusal.answer.code,
        tool: request.tool,
        ...(base.runId ? { runId: base.runId } : {}),
        ...(base.runbook ? { runbook: base.runbook } : {}),
        ...(base.connection ? { connection: base.connection } : {}),
        ...(base.params ? { params: base.params } : {}),
        ...(base.guardrails ? { guardrails: base.guardrails } : {}),
        decision: { effect: 'deny', reason, ...(record.rule ? { rule: record.rule } : {}) },
        ...(record.details ? { details: record.details } : {}),
      });
    } catch (caught) {
      // Nothing runs either way. The caller still learns why it was refused, and the answer is
      // left unmarked, so the gateway tries to record it in turn.
      this.log.error(`could not record the refusal of ${request.tool} (${refusal.code}): ${(caught as Error).message}`);
      return refusal.answer;
    }
    return recordedAnswer(refusal.answer);
  }
}

/** MCP tasks' answer (-32601) to a task-augmented call of a tool whose tools/list entry has no taskSupport. */
function taskNotSupported(tool: string, why: string): Refusal {
  const answer = new RungateError('TASK_NOT_SUPPORTED', `${tool} does not support MCP tasks (its execution.taskSupport is absent: it is never held); call it without task`);
  return new Refusal(answer, 'task-not-supported', {}, { reason: `a task-augmented call of ${tool}, which ${why}` });
}
