import type { ApprovalConfig } from '@rungate/config';
import type { GuardrailAction, GuardrailRecord } from '@rungate/contracts';

/** One guardrail that matched: what it does about it and what to tell the agent (never the matched text). */
export interface GuardrailFinding {
  guardrail: string;
  on: 'input' | 'output';
  action: GuardrailAction;
  message: string;
  /** require_approval findings: who approves. */
  approval?: ApprovalConfig;
}

/** The configured message first (the operator's words), then what matched, so the agent can fix its call. */
export function findingMessage(configured: string | undefined, detail: string): string {
  return configured ? `${configured} (${detail})` : detail;
}

export function guardrailRecord(finding: GuardrailFinding): GuardrailRecord {
  return { name: finding.guardrail, on: finding.on, action: finding.action, message: finding.message };
}

/** `guardrail no-ddl: …; guardrail row-cap: …` — what an agent is told about the findings that stopped it. */
export function describeFindings(findings: readonly GuardrailFinding[]): string {
  return findings.map((finding) => `guardrail ${finding.guardrail}: ${finding.message}`).join('; ');
}

export interface GuardrailVerdict {
  denied: GuardrailFinding[];
  approvals: GuardrailFinding[];
  warnings: GuardrailFinding[];
}

/** Deny wins over approval, approval over a warning; every finding is kept for the audit trail. */
export function guardrailVerdict(findings: readonly GuardrailFinding[]): GuardrailVerdict {
  return {
    denied: findings.filter((f) => f.action === 'deny'),
    approvals: findings.filter((f) => f.action === 'require_approval'),
    warnings: findings.filter((f) => f.action === 'warn'),
  };
}
