import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { WINDOW_HORIZON_DAYS, loadConfig, nextOpening, type ApprovalConfig, type RungateConfig } from '@rungate/config';
import { describeWindow, type ChangeWindow, type Identity } from '@rungate/contracts';
import { explainCallGuardrails } from '@rungate/guardrails';
import { explain } from '@rungate/policy';

export interface ExplainOptions {
  user: string;
  agent?: string;
  group: string[];
  runbook: string;
  connection: string;
  param: string[];
  file?: string;
  config: string;
}

const MISS_TEXT = {
  groups: 'none of its groups is one of the user’s',
  connection: 'its connections do not include this one',
  runbook: 'its runbook globs do not match',
  params: 'its parameter conditions are not met',
} as const;

/** Exit codes of `rungate policy explain`. */
export const EXPLAIN_EXIT = { allow: 0, deny: 1, approval_required: 3 } as const;

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** When a run approved now could start, by this machine's clock (policy uses the database's). */
function opening(windows: ChangeWindow[], now = Date.now()): string {
  const slot = nextOpening(windows, now);
  if (!slot) return `but they never open together within ${WINDOW_HORIZON_DAYS} days: the call is refused`;
  return slot.startsAt === now ? `open now (until ${new Date(slot.endsAt).toISOString()})` : `next opening ${new Date(slot.startsAt).toISOString()}`;
}

/**
 * Who could approve a run of this requester: the humans of users: in an approver group, never
 * the requester (ADR 18). With OIDC, approvers from the issuer are not known here.
 */
export function approvalLines(config: Pick<RungateConfig, 'users' | 'oidc'>, approval: ApprovalConfig, requester: string): string[] {
  const approvers = config.users.filter((u) => u.name !== requester && u.groups.some((g) => approval.groups.includes(g))).map((u) => u.name);
  const lines = [`  needs ${approval.count} approval${approval.count === 1 ? '' : 's'} from ${approval.groups.join(', ')} within ${duration(approval.ttl)}`];
  if (approval.allGroups) lines.push(`  allGroups: at least one approver from each of ${approval.groups.join(', ')}`);
  if (approval.breakGlassGroups) lines.push(`  break glass: one approver in ${approval.breakGlassGroups.join(', ')} approves alone (marked breakGlass in the decision and audit.run.approved)`);
  if (approval.window) lines.push(`  change window: ${describeWindow(approval.window)} — an approved run starts only inside it, ${opening([approval.window])}`);
  const known = approvers.length > 0 ? approvers.join(', ') : 'none in users:';
  lines.push(`  approvers: ${known}${config.oidc ? ' (and OIDC users in those groups)' : ''}; never the requester, never an agent token`);
  if (!config.oidc && approvers.length < approval.count) lines.push(`  warning: only ${approvers.length} approver${approvers.length === 1 ? '' : 's'} other than ${requester}: this call can never be approved`);
  return lines;
}

/**
 * `rungate policy explain`: the decision and the rule that made it, why every other rule did
 * not, and the guardrails that apply (what they say of a runbook file, with `--file`). Exit 0
 * allow, 1 deny, 3 approval required (a rule's approval:, or a require_approval guardrail on
 * the rendered --file).
 */
export async function explainPolicy(options: ExplainOptions): Promise<number> {
  const config = loadConfig(resolve(options.config));
  const { user, agent } = options;
  const configured = config.users.find((u) => u.name === user);
  if (!configured && options.group.length === 0) {
    process.stdout.write(`deny: unknown user ${user} (not in users:; pass --group for an OIDC user)\n`);
    return 1;
  }
  const token = agent ? config.tokens.find((t) => t.user === user && t.agent === agent) : undefined;
  if (token?.expiresAt && Date.parse(token.expiresAt) <= Date.now()) {
    process.stdout.write(`deny: the static token of ${user} via agent ${agent} expired at ${token.expiresAt}\n`);
    return 1;
  }
  const identity: Identity = {
    user,
    groups: [...(configured?.groups ?? []), ...options.group],
    ...(agent ? { agent } : {}),
    scope: { ...(token?.runbooks ? { runbooks: token.runbooks } : {}), ...(token?.connections ? { connections: token.connections } : {}) },
  };
  const params = Object.fromEntries(
    options.param.map((pair) => {
      const at = pair.indexOf('=');
      return at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const result = explain(
    { identity, runbook: options.runbook, connection: options.connection, ...(options.param.length > 0 ? { params } : {}) },
    config.rules,
  );
  const lines: string[] = [];
  const { decision } = result;
  if (decision.effect === 'allow') lines.push(`allow: rule ${decision.rule}`);
  else if (decision.effect === 'approval_required') lines.push(`approval_required: rule ${decision.rule}`);
  else lines.push(`deny: ${decision.reason}`);
  lines.push(`  as ${user}${agent ? ` via agent ${agent}` : ''}, groups [${identity.groups.join(', ')}]`);
  if (decision.effect === 'approval_required') lines.push(...approvalLines(config, decision.approval, user));
  if (result.scope) lines.push(`  token scope: ${result.scope}`);
  if (config.rules.length === 0) lines.push('  no rules are configured: everything is denied');
  for (const rule of result.rules) {
    lines.push(`  rule ${rule.name}: ${rule.matches ? 'matches' : `does not match — ${MISS_TEXT[rule.miss ?? 'groups']}`}`);
  }
  const rule = decision.effect === 'deny' ? undefined : decision.rule;
  const guardrails = await explainCallGuardrails(
    config,
    { connection: options.connection, runbook: options.runbook, rule },
    options.file ? { source: readFileSync(options.file, 'utf8'), params } : undefined,
  );
  lines.push(...guardrails.lines);
  if (decision.effect === 'allow' && guardrails.approvals.length > 0) {
    lines[0] = `approval_required: rule ${decision.rule} allows it; guardrail ${guardrails.approvals.map((a) => a.guardrail).join(', ')} holds it`;
  }
  for (const held of guardrails.approvals) {
    lines.push(`  guardrail ${held.guardrail} holds this call for approval:`, ...approvalLines(config, held.approval, user).map((line) => `  ${line}`));
  }
  const windows = [...(decision.effect === 'approval_required' ? [decision.approval] : []), ...guardrails.approvals.map((a) => a.approval)].flatMap((a) => (a.window ? [a.window] : []));
  if (windows.length > 1) lines.push(`  change windows together: the run starts only while all ${windows.length} are open, ${opening(windows)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (decision.effect === 'deny' || guardrails.denied) return EXPLAIN_EXIT.deny;
  return decision.effect === 'approval_required' || guardrails.approvals.length > 0 ? EXPLAIN_EXIT.approval_required : EXPLAIN_EXIT.allow;
}
