import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ApprovalConfig, ConnectionConfig } from '@rungate/config';
import {
  RunEventTypes,
  RungateError,
  type AuditEventInput,
  type AuthorizeReply,
  type AuthorizeRequest,
  type Identity,
  type RunbookEntry,
  type RunTicketClaims,
} from '@rungate/contracts';
import { describeFindings, guardrailRecord, guardrailVerdict, type GuardrailFinding } from '@rungate/guardrails';
import { setRunId, type AuditSink } from '@rungate/messaging';
import { maskingProfileDigest, selectMaskingProfile } from '@rungate/masking';
import { allowedConnections, decide, runbookKey, supportsDryRun, type Decision } from '@rungate/policy';
import { redactParams, envFor, renderRunbook, sqlDialectOf, validateArguments } from '@rungate/runbooks';
import { AUDIT_SINK, CONFIG, Metrics, type ConfigHolder } from '@rungate/runtime';
import { sha256Hex } from '@rungate/tickets';
import { CatalogStore } from './catalog.store';
import { GuardrailSet } from './guardrail-set';
import { TicketSigner } from './ticket-signer';

const DEFAULT_MAX_ROWS = 1000;

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

function approvalHolds(decision: Extract<Decision, { effect: 'allow' }>, findings: readonly GuardrailFinding[]): ApprovalHold[] {
  const holds: ApprovalHold[] = decision.approval ? [{ by: 'rule', name: decision.rule, approval: decision.approval }] : [];
  for (const finding of findings) {
    if (finding.approval) holds.push({ by: 'guardrail', name: finding.guardrail, approval: finding.approval, reason: finding.message });
  }
  return holds;
}

function parseDryRun(value: unknown): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new RungateError('INVALID_PARAMS', 'dryRun: must be true or false', { parameter: 'dryRun', constraint: 'type' });
}

@Injectable()
export class Authorizer {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly catalog: CatalogStore,
    private readonly signer: TicketSigner,
    private readonly guardrails: GuardrailSet,
  ) {}

  async authorize(request: AuthorizeRequest): Promise<AuthorizeReply> {
    const { identity } = request;
    const entry = this.catalog.find(request.tool);
    const { connection: connectionArg, dryRun: dryRunArg, ...args } = request.arguments;
    const connection = this.chooseConnection(identity, entry, connectionArg);
    const runId = runIdFor(identity, request.tool, request.idempotencyKey);
    setRunId(runId);
    const { runbook, commit } = await this.catalog.load(entry);
    const auditBase: AuditEventInput = {
      type: RunEventTypes.decided,
      source: 'policy',
      runId,
      tool: entry.tool,
      actor: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId, ...request.meta },
      runbook: { repository: entry.repository, path: entry.path, commit, sha256: entry.sha256 },
      connection: { name: connection.name, type: connection.type },
    };

    const validation = validateArguments(runbook, args);
    if (!validation.ok) {
      const message = validation.errors.map((e) => `${e.parameter}: ${e.message}`).join('; ');
      await this.deny(auditBase, 'invalid-params', message);
      throw new RungateError('INVALID_PARAMS', message, { errors: validation.errors });
    }
    const dryRun = parseDryRun(dryRunArg);
    if (dryRun && !supportsDryRun(entry)) {
      throw new RungateError('INVALID_PARAMS', 'dryRun: only SQL runbooks and Kubernetes manifests support a dry run', { parameter: 'dryRun', constraint: 'language' });
    }
    const params = redactParams(runbook, validation.values);
    const decision = decide(
      { identity, runbook: runbookKey(entry), connection: connection.name, params: validation.values },
      this.config.current.rules,
    );
    if (decision.effect === 'deny') {
      await this.deny({ ...auditBase, params }, decision.family, decision.reason);
      throw new RungateError('FORBIDDEN', decision.reason, { family: decision.family });
    }
    // Input guardrails judge the body exactly as it would run, before anything is signed.
    const dialect = sqlDialectOf(connection);
    const body = renderRunbook(runbook, validation.values, dialect);
    const guardrails = this.guardrails.current;
    const subject = { connection: connection.name, runbook: runbookKey(entry), rule: decision.rule };
    const findings = guardrails.checkInput({ ...subject, body, language: entry.language, dialect: dialect?.kind, params: validation.values });
    const verdict = guardrailVerdict(findings);
    const records = findings.length > 0 ? { guardrails: findings.map(guardrailRecord) } : {};
    if (verdict.denied.length > 0) {
      const reason = describeFindings(verdict.denied);
      await this.deny({ ...auditBase, params, ...records }, 'guardrail', reason, decision.rule);
      throw new RungateError('GUARDRAIL_BLOCKED', `${reason}; nothing was run`, { guardrails: verdict.denied.map((f) => f.guardrail) });
    }
    const holds = approvalHolds(decision, verdict.approvals);
    if (holds.length > 0) await this.holdForApproval({ ...auditBase, params, ...records }, holds);

    const outputGuardrails = guardrails.outputFor(subject);
    const masking = this.maskingClaim(decision.rule, connection);
    const now = Math.floor(Date.now() / 1000);
    const ttlSeconds = Math.max(1, Math.floor(this.config.current.tickets.ttl / 1000));
    Metrics.decisions.inc({ effect: 'allow' });
    await this.audit.publish({
      ...auditBase,
      params,
      decision: { effect: 'allow', rule: decision.rule },
      ...records,
      details: {
        dryRun,
        idempotencyKey: request.idempotencyKey,
        ...(outputGuardrails.length > 0 ? { outputGuardrails: outputGuardrails.map((g) => g.name) } : {}),
        ...(masking ? { masking: masking.profile } : {}),
      },
    });
    const ticket = this.signer.sign({
      // v2: the executor must apply something to the output; a v1-only executor refuses it.
      v: outputGuardrails.length > 0 || masking ? 2 : 1,
      runId,
      iat: now,
      exp: now + ttlSeconds,
      identity: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId },
      runbook: { repository: entry.repository, path: entry.path, commit, sha256: entry.sha256 },
      bodySha256: sha256Hex(body),
      tool: entry.tool,
      connection: { name: connection.name, type: connection.type },
      params,
      env: envFor(runbook, validation.values),
      limits: {
        timeoutMs: entry.metadata.timeoutMs,
        maxRows: connection.type === 'postgres' || connection.type === 'mysql' ? connection.maxRows : DEFAULT_MAX_ROWS,
        maxBytes: connection.maxBytes,
      },
      readOnly: entry.metadata.readOnly,
      dryRun,
      ...(dialect?.kind === 'mysql' ? { mysqlQuoting: dialect.quoting } : {}),
      ...(entry.metadata.action ? { action: entry.metadata.action } : {}),
      rule: decision.rule,
      ...(outputGuardrails.length > 0 ? { guardrails: outputGuardrails } : {}),
      ...(masking ? { masking } : {}),
    });
    return { effect: 'allow', runId, connection: { name: connection.name, type: connection.type }, ticket, body, timeoutMs: entry.metadata.timeoutMs };
  }

  /**
   * The masking profile the allowing rule (over its connection) selects, signed by name and by
   * the digest of its definition, so executors apply exactly it or refuse (ADR 14). Only the
   * definition is read here: its hash key stays a reference, resolved by executors alone.
   */
  private maskingClaim(ruleName: string, connection: ConnectionConfig): RunTicketClaims['masking'] {
    const { rules, masking } = this.config.current;
    const profile = selectMaskingProfile(rules.find((rule) => rule.name === ruleName), connection);
    if (profile === undefined) return undefined;
    const definition = masking.find((candidate) => candidate.name === profile);
    // rungate.yaml is refused when a rule or connection names an unknown profile; never sign a run without it.
    if (!definition) throw new RungateError('INTERNAL', `masking profile ${profile} is not configured; the run was not authorized`);
    return { profile, sha256: maskingProfileDigest(definition) };
  }

  private chooseConnection(identity: Identity, entry: RunbookEntry, requested: unknown): ConnectionConfig {
    const { connections, rules } = this.config.current;
    const allowed = allowedConnections(identity, entry, connections, rules);
    // A tool this caller may not run anywhere is one they cannot see: answer exactly as for a
    // tool that does not exist, so a denial never reveals which runbooks exist.
    if (allowed.length === 0) throw new RungateError('UNKNOWN_TOOL', `unknown tool ${entry.tool}`);
    if (requested !== undefined) {
      if (typeof requested !== 'string') {
        throw new RungateError('INVALID_PARAMS', 'connection: must be a connection name', { parameter: 'connection', constraint: 'type' });
      }
      const chosen = allowed.find((c) => c.name === requested);
      if (!chosen) {
        throw new RungateError('FORBIDDEN', `you may not run ${entry.tool} on connection ${requested}`, { family: 'no-rule' });
      }
      return chosen;
    }
    if (allowed.length === 1) return allowed[0] as ConnectionConfig;
    throw new RungateError('INVALID_PARAMS', `connection: required; one of ${allowed.map((c) => c.name).join(', ')}`, {
      parameter: 'connection',
      constraint: 'required',
    });
  }

  /**
   * The one place a run waits for an approval, whoever asked for it (a rule's `approval:`, a
   * require_approval guardrail). Approvals are not built yet, so the run is refused with
   * APPROVAL_REQUIRED and audited; the approvals flow replaces this body. It is called after
   * rendering and the input guardrails, so the body to store for approvers is already known.
   */
  private async holdForApproval(base: AuditEventInput, holds: readonly ApprovalHold[]): Promise<never> {
    const why = holds.map((h) => `${h.by} ${h.name} requires approval by ${h.approval.groups.join(', ')}${h.reason ? ` (${h.reason})` : ''}`).join('; ');
    await this.deny(base, 'approval', 'approval required but approvals are not enabled');
    throw new RungateError('APPROVAL_REQUIRED', `${why}; approvals are not enabled on this gateway, so the run was not executed`);
  }

  private async deny(base: AuditEventInput, family: string, reason: string, rule?: string): Promise<void> {
    Metrics.decisions.inc({ effect: 'deny' });
    await this.audit.publish({ ...base, decision: { effect: 'deny', ...(rule ? { rule } : {}), reason }, outcome: { status: 'denied', errorCode: family } });
  }
}
