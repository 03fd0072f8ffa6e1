import { ApprovalRun, ApprovalsReply } from '@rungate/contracts';
import { UsageError } from '../cli/values';
import { rungateApi, withApi, type AuditApi, type AuditApiOptions } from './audit-api';

/** Whose token the approver commands need: a human's own, never an agent's (ADR 18 §3). */
export const APPROVER = "a human, made for them and not for an agent (rungate token create --human, or human: true in rungate.yaml)";

export interface ApproverOptions extends AuditApiOptions {
  json?: boolean;
}

function gateway(options: AuditApiOptions): AuditApi {
  return rungateApi(options, APPROVER, 'the gateway');
}

const runPath = (runId: string, action = '') => `/v1/runs/${encodeURIComponent(runId)}${action}`;

function who(party: { user: string; agent?: string }): string {
  return party.agent ? `${party.user} via ${party.agent}` : party.user;
}

/** What a decision left the run as, in one line. */
function afterDecision(run: ApprovalRun): string {
  const tally = `${run.approval.approved}/${run.approval.count} approval${run.approval.count === 1 ? '' : 's'}`;
  switch (run.state) {
    case 'pending':
      return `${tally}; it waits for more (rungate runs show ${run.runId})`;
    case 'approved':
    case 'executing':
      return `${tally}: approved, it runs now exactly as shown (rungate runs show ${run.runId} for its outcome)`;
    case 'executed':
    case 'failed':
      return `${tally}: ${run.state}${run.outcome?.error ? ` (${run.outcome.error})` : ''}`;
    default:
      return run.state;
  }
}

/** `rungate approve RUN_ID [--comment TEXT]`. */
export function approveRun(runId: string, options: ApproverOptions & { comment?: string }): Promise<number> {
  return withApi('rungate approve', async () => {
    const run = await gateway(options).post(runPath(runId, '/approve'), options.comment === undefined ? {} : { comment: options.comment }, ApprovalRun);
    process.stdout.write(options.json ? `${JSON.stringify(run)}\n` : `approved ${run.runId} (${run.tool} on ${run.connection.name}): ${afterDecision(run)}\n`);
    return 0;
  });
}

/** `rungate reject RUN_ID --reason TEXT`. */
export function rejectRun(runId: string, options: ApproverOptions & { reason: string }): Promise<number> {
  return withApi('rungate reject', async () => {
    const run = await gateway(options).post(runPath(runId, '/reject'), { reason: options.reason }, ApprovalRun);
    process.stdout.write(options.json ? `${JSON.stringify(run)}\n` : `rejected ${run.runId} (${run.tool} on ${run.connection.name}): it will not run\n`);
    return 0;
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** `rungate runs --pending`: the held runs this human may approve, oldest first. */
export function listPendingRuns(options: ApproverOptions & { pending?: boolean }): Promise<number> {
  if (!options.pending) {
    throw new UsageError('say which runs: --pending (the runs waiting for your approval); one run in any state: rungate runs show RUN_ID');
  }
  return withApi('rungate runs', async () => {
    const { runs } = await gateway(options).get('/v1/runs', new URLSearchParams({ state: 'pending' }), ApprovalsReply);
    if (options.json) {
      for (const run of runs) process.stdout.write(`${JSON.stringify(run)}\n`);
      return 0;
    }
    if (runs.length === 0) {
      process.stderr.write('no runs are waiting for your approval\n');
      return 0;
    }
    const rows = runs.map((run) => [run.runId, run.tool, run.connection.name, who(run.requester), `${run.approval.approved}/${run.approval.count}`, run.expiresAt]);
    process.stdout.write(`${table([['RUN', 'TOOL', 'CONNECTION', 'REQUESTER', 'APPROVALS', 'EXPIRES'], ...rows])}\n`);
    process.stderr.write(`approve with: rungate approve RUN [--comment TEXT]; reject with: rungate reject RUN --reason TEXT; details: rungate runs show RUN\n`);
    return 0;
  });
}

/** A held run as an approver reads it before deciding: exactly what would run, where, for whom. */
export function formatRun(run: ApprovalRun): string {
  const lines = [
    `run        ${run.runId}`,
    `state      ${run.state}`,
    `tool       ${run.tool}  (rule ${run.rule})`,
    `held by    ${run.holds.map((hold) => `${hold.by} ${hold.name}${hold.reason ? `: ${hold.reason}` : ''}`).join('; ')}`,
    `runbook    ${run.runbook.repository}/${run.runbook.path} at ${run.runbook.commit} (sha256 ${run.runbook.sha256})`,
    `connection ${run.connection.name} (${run.connection.type})`,
    `requester  ${who(run.requester)}`,
    `approvals  ${run.approval.approved}/${run.approval.count} from ${run.approval.groups.join(', ')}`,
    `created    ${run.createdAt}`,
    `expires    ${run.expiresAt}`,
    `params     ${Object.keys(run.params).length === 0 ? '(none)' : Object.entries(run.params).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(' ')}`,
    `body       sha256 ${run.bodySha256}`,
    ...run.body.split('\n').map((line) => `  | ${line}`),
  ];
  for (const decision of run.decisions) lines.push(`decision   ${decision.at}  ${decision.verdict} by ${who(decision.actor)}${decision.comment ? `: ${decision.comment}` : ''}`);
  if (run.outcome) lines.push(`outcome    ${run.outcome.status}${run.outcome.errorCode ? ` ${run.outcome.errorCode}` : ''}${run.outcome.error ? `: ${run.outcome.error}` : ''}`);
  if (run.outcome?.result) lines.push(`result     ${JSON.stringify(run.outcome.result)}`);
  return `${lines.join('\n')}\n`;
}

/** `rungate runs show RUN_ID`: one run, for its requester or an approver. */
export function showRun(runId: string, options: ApproverOptions): Promise<number> {
  return withApi('rungate runs show', async () => {
    const run = await gateway(options).get(runPath(runId), new URLSearchParams(), ApprovalRun);
    process.stdout.write(options.json ? `${JSON.stringify(run, null, 2)}\n` : formatRun(run));
    return 0;
  });
}
