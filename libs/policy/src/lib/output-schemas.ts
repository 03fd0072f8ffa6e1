import { ApprovalRequiredResult, ErrorCode, RunStatusResult } from '@rungate/contracts';
import { z } from 'zod';

/**
 * The `structuredContent` of a call that failed before (or instead of) a run's report: its
 * error code, for programs to act on, and the message the text content also carries.
 */
const errorOutput = {
  type: 'object',
  properties: { code: { type: 'string', enum: [...ErrorCode.options] }, message: { type: 'string' } },
  required: ['code', 'message'],
};

/** A tool's `outputSchema`: its run's report, or the error it failed with (MCP: structured results conform to the schema). */
function reportOrError(report: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', anyOf: [report, errorOutput] };
}

const sqlReport = {
  type: 'object',
  properties: {
    runId: { type: 'string' },
    kind: { const: 'sql' },
    columns: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' } } } },
    rows: { type: 'array', items: { type: 'object' } },
    rowCount: { type: 'integer' },
    statements: { type: 'array', items: { type: 'object' } },
    truncated: { type: 'boolean' },
    dryRun: { type: 'boolean' },
    durationMs: { type: 'number' },
  },
  required: ['runId', 'kind', 'columns', 'rows', 'rowCount', 'truncated'],
};

const processReport = {
  type: 'object',
  properties: {
    runId: { type: 'string' },
    kind: { const: 'process' },
    exitCode: { type: ['integer', 'null'] },
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    truncated: { type: 'boolean' },
    dryRun: { type: 'boolean' },
    durationMs: { type: 'number' },
  },
  required: ['runId', 'kind', 'exitCode', 'stdout', 'stderr', 'truncated'],
};

/** The `outputSchema` of tools that answer SQL results, runbooks and explorations alike. */
export const sqlOutputSchema = reportOrError(sqlReport);

/** The `outputSchema` of tools that answer a process's output: scripts, manifests, reads, host commands. */
export const processOutputSchema = reportOrError(processReport);

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema) as Record<string, unknown>;
  return json;
}

/** A call a rule or guardrail held for approval answers this instead of a report (ADR 18 §2). */
const heldOutput = jsonSchemaOf(ApprovalRequiredResult);

/** A runbook's `outputSchema`: its report, the error it failed with, or the approval it waits for. */
export function runbookOutputSchema(report: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', anyOf: [...(report['anyOf'] as unknown[]), heldOutput] };
}

/** `rungate_run_status`'s `outputSchema`: the run's state, or the error it was refused with. */
export const runStatusOutputSchema = reportOrError(jsonSchemaOf(RunStatusResult));
