import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_EXPLORE_BOUND, mysqlQuotingOf, type ConnectionConfig, type ExploreGrant } from '@rungate/config';
import {
  RunEventTypes,
  RungateError,
  type AuditEventInput,
  type AuthorizeReply,
  type AuthorizeRequest,
  type ExplorationTool,
  type Identity,
  type KubernetesExploreKind,
  type RunLimits,
  type SessionId,
} from '@rungate/contracts';
import { commandRead, explorationSessionId, logRead, mysqlSchemaQuery, objectRead, schemaQuery, type Built } from '@rungate/exploration';
import { checkExploreMysql, checkExploreSql, describeFindings, guardrailRecord, guardrailVerdict, mysqlFingerprint, type ExploreCheck } from '@rungate/guardrails';
import { actorOf, setRunId, type AuditSink } from '@rungate/messaging';
import { builtinConnections, builtinKey, builtinTool, type BuiltinTool } from '@rungate/policy';
import { AUDIT_SINK, CONFIG, Metrics, type ConfigHolder } from '@rungate/runtime';
import { sha256Hex } from '@rungate/tickets';
import type { z } from 'zod';
import { GuardrailSet } from './guardrail-set';
import { maskingClaim } from './masking-claim';
import { Refusal, recordedAnswer } from './refusal';
import { TicketSigner } from './ticket-signer';

/** What one exploration will run: its body (the statement, or the read as JSON) and what the audit records of the request. */
interface Exploration {
  body: string;
  /** The request as the transcript shows it: the full statement, the read, the command. */
  request: Record<string, string>;
  language: 'sql' | 'shell' | 'kubernetes';
  fingerprint?: string;
}

function firstIssue(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.code === 'unrecognized_keys' ? `unknown argument(s) ${issue.keys.join(', ')}` : `${issue.path.join('.') || 'arguments'}: ${issue.message}`))
    .join('; ');
}

function stringsOf(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || key === 'connection') continue;
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

/**
 * Authorizes the built-in exploration tools (ADR 19): the tool's own decision (a rule's
 * `explore:` grant), the read-only check of what will run (for SQL, PostgreSQL's parser via
 * checkExploreSql, on MySQL the token check checkExploreMysql), the input guardrails, then a
 * run ticket whose body is the statement (or the read) and whose `explore` claim makes the
 * executor run it read-only whatever was checked here. Every call — allowed or refused — is one audited decision in its exploration session.
 */
@Injectable()
export class ExplorationAuthorizer {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly signer: TicketSigner,
    private readonly guardrails: GuardrailSet,
  ) {}

  async authorize(request: AuthorizeRequest): Promise<AuthorizeReply> {
    const { identity } = request;
    const tool = builtinTool(request.tool) as BuiltinTool;
    const name = tool.name as ExplorationTool;
    const parsed = tool.arguments.safeParse(request.arguments);
    const connection = this.chooseConnection(identity, tool, parsed.success ? parsed.data['connection'] : request.arguments['connection']);
    const runId = randomUUID();
    setRunId(runId);
    const session = explorationSessionId(identity, request.session, new Date());
    const base: AuditEventInput = {
      type: RunEventTypes.decided,
      source: 'policy',
      runId,
      tool: name,
      actor: actorOf(identity, request.meta),
      connection: { name: connection.name, type: connection.type },
      params: stringsOf(request.arguments),
      details: { session, exploration: name },
    };
    if (!parsed.success) {
      const message = firstIssue(parsed.error);
      throw await this.deny(base, 'invalid-params', new RungateError('INVALID_PARAMS', message));
    }
    const decision = tool.decide(identity, connection, this.config.current);
    if (decision.effect === 'deny') throw await this.deny(base, decision.family, new RungateError('FORBIDDEN', decision.reason, { family: decision.family }));
    const built = this.build(name, connection, parsed.data);
    if (!built.ok) throw await this.deny(base, 'exploration', new RungateError('EXPLORATION_REFUSED', `${built.problem}; nothing was run`), built.problem, decision.rule);
    const exploration = built.value;
    const details = { session, exploration: name, ...(exploration.fingerprint ? { fingerprint: exploration.fingerprint } : {}) };
    const audited: AuditEventInput = { ...base, params: exploration.request, details };

    const subject = { connection: connection.name, runbook: builtinKey(name), rule: decision.rule };
    const guardrails = this.guardrails.current;
    const dialect = connection.type === 'mysql' ? 'mysql' : undefined;
    const findings = guardrails.checkInput({ ...subject, body: exploration.body, language: exploration.language, ...(dialect ? { dialect } : {}), params: exploration.request });
    const verdict = guardrailVerdict(findings);
    const records = findings.length > 0 ? { guardrails: findings.map(guardrailRecord) } : {};
    if (verdict.denied.length > 0 || verdict.approvals.length > 0) {
      // An exploration is not held for approval: that is what a reviewed runbook is for.
      const blocking = verdict.denied.length > 0 ? verdict.denied : verdict.approvals;
      const reason = describeFindings(blocking);
      const error = new RungateError('GUARDRAIL_BLOCKED', `${reason}; nothing was run`, { guardrails: blocking.map((f) => f.guardrail) });
      throw await this.deny({ ...audited, ...records }, 'guardrail', error, reason, decision.rule);
    }

    const outputGuardrails = guardrails.outputFor(subject);
    const masking = maskingClaim(this.config.current, decision.rule, connection);
    const limits = this.limits(decision.grant, connection);
    const now = Math.floor(Date.now() / 1000);
    const ttlSeconds = Math.max(1, Math.floor(this.config.current.tickets.ttl / 1000));
    Metrics.decisions.inc({ effect: 'allow' });
    await this.audit.publish({
      ...audited,
      decision: { effect: 'allow', rule: decision.rule },
      ...records,
      details: { ...details, limits, ...(masking ? { masking: masking.profile } : {}) },
    });
    const ticket = this.signer.sign({
      v: 2,
      runId,
      iat: now,
      exp: now + ttlSeconds,
      identity: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId },
      bodySha256: sha256Hex(exploration.body),
      tool: name,
      connection: { name: connection.name, type: connection.type },
      params: exploration.request,
      env: {},
      limits,
      readOnly: true,
      dryRun: false,
      // The quoting the statement was checked under: executor-mysql pins the session to it, or runs nothing.
      ...(connection.type === 'mysql' ? { mysqlQuoting: mysqlQuotingOf(connection) } : {}),
      rule: decision.rule,
      ...(outputGuardrails.length > 0 ? { guardrails: outputGuardrails } : {}),
      ...(masking ? { masking } : {}),
      explore: { tool: name, session: session as SessionId },
    });
    return { effect: 'allow', runId, connection: { name: connection.name, type: connection.type }, ticket, body: exploration.body, timeoutMs: limits.timeoutMs };
  }

  /** The grant's caps within the connection's own: rows by its maxRows, time by its explore.timeout. */
  private limits(grant: ExploreGrant, connection: ConnectionConfig): RunLimits {
    const bound = 'explore' in connection && connection.explore ? connection.explore.timeout : DEFAULT_EXPLORE_BOUND.timeout;
    const maxRows = connection.type === 'postgres' || connection.type === 'mysql' ? Math.min(grant.maxRows, connection.maxRows) : grant.maxRows;
    return { timeoutMs: Math.min(grant.timeout, bound), maxRows, maxBytes: connection.maxBytes };
  }

  /** What the tool will run, checked before anything is signed; a refusal says what to do instead. */
  private build(tool: ExplorationTool, connection: ConnectionConfig, args: Record<string, unknown>): Built<Exploration> {
    const { parser } = this.guardrails;
    // PostgreSQL's own parser for PostgreSQL; for MySQL (no parser in the tree) the conservative token check, under the quoting the executor pins.
    const quoting = connection.type === 'mysql' ? mysqlQuotingOf(connection) : undefined;
    const sql = (statement: string, request: Record<string, string>): Built<Exploration> => {
      const check: ExploreCheck = quoting ? checkExploreMysql(statement, quoting) : checkExploreSql(parser.parse(statement));
      if (!check.ok) return { ok: false, problem: check.reason };
      const fingerprint = quoting ? mysqlFingerprint(statement, quoting) : parser.fingerprint(statement);
      return { ok: true, value: { body: statement, request, language: 'sql', ...(fingerprint ? { fingerprint } : {}) } };
    };
    const json = (read: Built<object>, request: Record<string, string>, language: Exploration['language']): Built<Exploration> =>
      read.ok ? { ok: true, value: { body: JSON.stringify(read.value), request, language } } : read;
    switch (tool) {
      case 'explore_sql':
        return sql(String(args['sql']), { sql: String(args['sql']) });
      case 'explore_schema': {
        const request = { schema: args['schema'] as string | undefined, table: args['table'] as string | undefined };
        return sql(quoting ? mysqlSchemaQuery(request) : schemaQuery(request), stringsOf(request));
      }
      case 'explore_k8s': {
        if (connection.type !== 'kubernetes') break;
        const read = objectRead(connection, { kind: args['kind'] as KubernetesExploreKind, namespace: args['namespace'] as string | undefined, name: args['name'] as string | undefined });
        return json(read, read.ok ? stringsOf({ ...read.value }) : {}, 'kubernetes');
      }
      case 'explore_logs': {
        if (connection.type !== 'kubernetes') break;
        const read = logRead(connection, {
          pod: String(args['pod']),
          namespace: args['namespace'] as string | undefined,
          container: args['container'] as string | undefined,
          tailLines: Number(args['tailLines']),
          sinceSeconds: args['sinceSeconds'] as number | undefined,
          previous: args['previous'] === true,
        });
        return json(read, read.ok ? stringsOf({ ...read.value }) : {}, 'kubernetes');
      }
      case 'explore_command': {
        if (connection.type !== 'ssh') break;
        const read = commandRead(connection, String(args['command']), (args['args'] as Record<string, string> | undefined) ?? {});
        return json(read, read.ok ? { command: read.value.command, argv: read.value.argv.join(' ') } : {}, 'shell');
      }
    }
    return { ok: false, problem: `${tool} does not run on ${connection.type} connections` };
  }

  /**
   * As for runbooks: a tool this caller may use nowhere answers exactly like an unknown one.
   * These refusals come before any exploration exists, so they are attempts (ADR 17), recorded
   * by the Authorizer like every other.
   */
  private chooseConnection(identity: Identity, tool: BuiltinTool, requested: unknown): ConnectionConfig {
    const allowed = builtinConnections(tool, identity, this.config.current);
    if (allowed.length === 0) {
      throw new Refusal(new RungateError('UNKNOWN_TOOL', `unknown tool ${tool.name}`), 'hidden-tool', {}, { reason: `${identity.user} may not use ${tool.name} on any connection` });
    }
    if (requested !== undefined) {
      const chosen = typeof requested === 'string' ? allowed.find((c) => c.name === requested) : undefined;
      if (!chosen) {
        const error = new RungateError('FORBIDDEN', `you may not use ${tool.name} on connection ${String(requested).slice(0, 128)}; you may on ${allowed.map((c) => c.name).join(', ')}`, { family: 'no-rule' });
        throw new Refusal(error, 'forbidden-connection');
      }
      return chosen;
    }
    if (allowed.length === 1) return allowed[0] as ConnectionConfig;
    const error = new RungateError('INVALID_PARAMS', `connection: required; one of ${allowed.map((c) => c.name).join(', ')}`, { parameter: 'connection', constraint: 'required' });
    throw new Refusal(error, 'invalid-params');
  }

  /**
   * A refused exploration is a decision of its session (`audit.run.decided`, deny), on the
   * record before the answer and never thinned by the attempt limit: a reviewer reads every
   * statement an agent tried. The answer is marked as recorded, so nobody records it again.
   */
  private async deny(base: AuditEventInput, family: string, error: RungateError, reason = error.message, rule?: string): Promise<RungateError> {
    Metrics.decisions.inc({ effect: 'deny' });
    await this.audit.publish({ ...base, decision: { effect: 'deny', ...(rule ? { rule } : {}), reason }, outcome: { status: 'denied', errorCode: family } });
    return recordedAnswer(error);
  }
}
