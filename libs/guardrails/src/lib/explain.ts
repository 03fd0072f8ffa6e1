import type { ApprovalConfig, ConnectionConfig, GuardrailConfig, RuleConfig } from '@rungate/config';
import { RenderError, parseRunbook, renderRunbook, sqlDialectOf, validateArguments, type SqlDialect } from '@rungate/runbooks';
import { guardrailVerdict, type GuardrailFinding } from './findings';
import { Guardrails, type BodyToCheck, type GuardrailSubject } from './guardrails';
import { loadSqlParser } from './sql-parser';

/** A call rendered as policy would render it, or why it could not be. */
export type RenderedCall = { ok: true; input: BodyToCheck } | { ok: false; problem: string };

/** Parses, validates and renders a runbook's source with the given values, as policy does before its input guardrails. */
export function renderCall(path: string, source: string, params: Record<string, string>, dialect?: SqlDialect): RenderedCall {
  const parsed = parseRunbook(path, source);
  if (!parsed.ok) return { ok: false, problem: parsed.findings.map((f) => `${f.line}:${f.column}: ${f.message}`).join('; ') };
  const validation = validateArguments(parsed.runbook, params);
  if (!validation.ok) return { ok: false, problem: validation.errors.map((e) => `${e.parameter}: ${e.message}`).join('; ') };
  try {
    const body = renderRunbook(parsed.runbook, validation.values, dialect);
    return { ok: true, input: { body, language: parsed.runbook.language, dialect: dialect?.kind, params: validation.values } };
  } catch (error) {
    if (error instanceof RenderError) return { ok: false, problem: error.message };
    throw error;
  }
}

export interface GuardrailExplanation {
  guardrail: GuardrailConfig;
  attachedBy: string[];
  /** Input guardrails on a rendered call: the finding, or null when the call passes. */
  finding?: GuardrailFinding | null;
}

/** The guardrails that apply to a call and, when it could be rendered, what each input guardrail says about it. */
export function explainGuardrails(guardrails: Guardrails, subject: GuardrailSubject, call?: BodyToCheck): GuardrailExplanation[] {
  return guardrails.applicable(subject).map(({ guardrail, attachedBy }) => {
    if (guardrail.on !== 'input' || !call) return { guardrail, attachedBy };
    return { guardrail, attachedBy, finding: guardrails.checkInputOf([guardrail.name], call)[0] ?? null };
  });
}

const VERDICT = { deny: 'denies this call', warn: 'warns about this call', require_approval: 'holds this call for approval' } as const;

/** What the input guardrails make of a rendered call, as `explain` sums it up. */
function summary(explanations: readonly GuardrailExplanation[]): string {
  const found = explanations.flatMap((e) => (e.finding ? [e.finding] : []));
  const { denied, approvals } = guardrailVerdict(found);
  if (denied.length > 0) return `  with these parameters the call is denied by guardrail ${denied.map((f) => f.guardrail).join(', ')}`;
  if (approvals.length > 0) return `  with these parameters the call waits for approval (guardrail ${approvals.map((f) => f.guardrail).join(', ')})`;
  return '  with these parameters the call passes every input guardrail';
}

export function formatGuardrailExplanations(explanations: readonly GuardrailExplanation[], call?: RenderedCall): string[] {
  if (explanations.length === 0) return ['  no guardrail applies'];
  const lines = [`  guardrails (${explanations.length}):`];
  for (const { guardrail, attachedBy, finding } of explanations) {
    lines.push(`    ${guardrail.name} — ${guardrail.on}, ${guardrail.action}; attached by ${attachedBy.join(' and ')}`);
    if (guardrail.on === 'output') lines.push('      checked by the executor on the output, before it leaves');
    else if (finding) lines.push(`      ${VERDICT[finding.action]}: ${finding.message}`);
    else if (finding === null) lines.push('      passes');
  }
  if (!call) lines.push('  (input guardrails check the rendered body: give the runbook file and its --param values to see what they say)');
  else if (!call.ok) lines.push(`  could not render the call, so input guardrails were not checked: ${call.problem}`);
  else lines.push(summary(explanations));
  return lines;
}

/**
 * `rungate policy explain`'s guardrail section: which guardrails apply to the call and, given
 * the runbook's source, what each input guardrail would say about it with these parameters
 * (`denied` when one would refuse it; `approvals`, the guardrails that would hold it and who approves).
 */
export async function explainCallGuardrails(
  config: { connections: readonly ConnectionConfig[]; guardrails: readonly GuardrailConfig[]; rules: readonly RuleConfig[] },
  subject: GuardrailSubject,
  runbook?: { source: string; params: Record<string, string> },
): Promise<{ lines: string[]; denied: boolean; approvals: { guardrail: string; approval: ApprovalConfig }[] }> {
  const guardrails = Guardrails.compile(config, await loadSqlParser());
  const connection = config.connections.find((c) => c.name === subject.connection);
  // The runbook's key is <repository>/<path>; its path's extension says the language.
  const path = subject.runbook.slice(subject.runbook.indexOf('/') + 1);
  const call = runbook ? renderCall(path, runbook.source, runbook.params, connection && sqlDialectOf(connection)) : undefined;
  const explanations = explainGuardrails(guardrails, subject, call?.ok ? call.input : undefined);
  return {
    lines: formatGuardrailExplanations(explanations, call),
    denied: explanations.some((e) => e.finding?.action === 'deny'),
    approvals: explanations.flatMap((e) => (e.finding?.action === 'require_approval' && e.finding.approval ? [{ guardrail: e.guardrail.name, approval: e.finding.approval }] : [])),
  };
}
