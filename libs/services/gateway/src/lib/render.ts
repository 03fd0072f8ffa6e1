import type { ExecResult } from '@rungate/contracts';

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

export function structured(result: ExecResult): Record<string, unknown> {
  return { runId: result.runId, durationMs: result.durationMs, dryRun: result.dryRun, ...result.output };
}
