import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { RUN_STATUS_TOOL, describeWindow, execResultContent, type ApprovalRequiredResult, type ExecResult, type HeldApprovers } from '@rungate/contracts';

const TEXT_LIMIT = 64 * 1024;

function clip(text: string): string {
  return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT)}\n… (clipped; the full result is in structuredContent)` : text;
}

/** A short text rendering for the model, beside the structured result for programs. */
export function renderText(tool: string, result: ExecResult): string {
  const output = result.output;
  // SQL dry runs roll a transaction back; Kubernetes ones are server-side (dryRun=All).
  const dryRun = result.dryRun ? (output.kind === 'sql' ? ' (dry run, rolled back)' : ' (server dry run, nothing changed)') : '';
  const prefix = `${tool}${dryRun} — run ${result.runId}`;
  if (output.kind === 'sql') {
    const statements = output.statements.map((s) => `${s.command}${s.rowCount === null ? '' : ` ${s.rowCount}`}`).join(', ');
    const rows = output.rows.length === 0 ? '' : `\n${JSON.stringify(output.rows)}`;
    const truncated = output.truncated ? ' (truncated)' : '';
    return clip(`${prefix}: ${output.rowCount} row(s)${truncated}; ${statements}${rows}`);
  }
  return clip(
    `${prefix}: exit code ${output.exitCode ?? 'none'}${output.truncated ? ' (output truncated)' : ''}\n` +
      (output.stdout ? `stdout:\n${output.stdout}\n` : '') +
      (output.stderr ? `stderr:\n${output.stderr}\n` : ''),
  );
}

export const structured = execResultContent;

/** An executor's report as a tools/call answers it: a failed run is an isError result. */
export function reportResult(tool: string, report: ExecResult): CallToolResult {
  return { isError: report.status === 'failed', content: [{ type: 'text', text: renderText(tool, report) }], structuredContent: structured(report) };
}

/** A coded domain failure as a tools/call answers it (ERROR_EDGES' `result` codes): its code and message. */
export function errorResult(code: string, message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }], structuredContent: { code, message } };
}

/**
 * What a held call tells the model: nothing ran, who must approve it and how, and how to
 * follow it. An agent cannot approve its own run (ADR 18 §3); a human approver can.
 */
export function renderHeld(tool: string, held: ApprovalRequiredResult): string {
  const { runId, approvers, expiresAt } = held;
  const who = describeApprovers(approvers);
  const state = held.state && held.state !== 'pending' ? ` This call was made before under the same idempotency key; the run is now ${held.state}.` : '';
  const windows = held.windows
    ? `Once approved it starts only inside its change window${held.windows.length === 1 ? '' : 's (all open at once)'}: ${held.windows.map(describeWindow).join('; ')}${held.startsAt ? `; it may start at ${held.startsAt}` : ''}.\n`
    : '';
  return (
    `${tool} — run ${runId} is held for approval: nothing has run yet. It needs ${who} before ${expiresAt}, when it expires.${state}\n` +
    windows +
    `An approver (a human, never the requester) approves it with: rungate approve ${runId}\n` +
    `Follow it with the ${RUN_STATUS_TOOL} tool: {"runId": "${runId}"}; once approved it runs exactly as requested and its result is there.`
  );
}

function groupsOf(groups: readonly string[], kind = ''): string {
  return `${kind}${groups.length === 1 ? 'group' : 'groups'} ${groups.join(', ')}`;
}

/**
 * Who must approve, in words: "2 approvals from groups sre-leads, dba (at least one from
 * each), or one approval alone from break-glass group oncall".
 */
export function describeApprovers(approvers: HeldApprovers): string {
  const { groups, allGroups, breakGlassGroups } = approvers;
  // With allGroups the quorum is never less than one approval of each group.
  const count = allGroups ? Math.max(approvers.count, groups.length) : approvers.count;
  const each = allGroups && groups.length > 1 ? ' (at least one from each)' : '';
  const breakGlass = breakGlassGroups ? `, or one approval alone from ${groupsOf(breakGlassGroups, 'break-glass ')}` : '';
  return `${count} approval${count === 1 ? '' : 's'} from ${groupsOf(groups)}${each}${breakGlass}`;
}
