/**
 * PUBLIC INTERFACE of @rungate/runbooks (being implemented; see the issue on the runbook
 * language). Everything else in the tree imports only these names.
 */
import type { ParameterSpec, RunbookFinding, RunbookLanguage, RunbookMetadata } from '@rungate/contracts';

export const MAX_RUNBOOK_BYTES = 1024 * 1024;

/** A parsed runbook: declarations merged, metadata read, body lexed and ready to render. */
export interface ParsedRunbook {
  readonly path: string;
  readonly language: RunbookLanguage;
  readonly metadata: RunbookMetadata;
  readonly parameters: readonly ParameterSpec[];
  /** sha256 hex of the source file as stored in git. */
  readonly sha256: string;
}

export type ParseResult = { ok: true; runbook: ParsedRunbook } | { ok: false; findings: RunbookFinding[] };

export interface ParameterError {
  parameter: string;
  constraint: string;
  message: string;
}
export type ValidationResult =
  | { ok: true; values: Record<string, string> }
  | { ok: false; errors: ParameterError[] };

export declare function isRunbookPath(path: string): boolean;
export declare function toolName(repository: string, path: string): string;
export declare function parseRunbook(path: string, source: string): ParseResult;
export declare function validateArguments(runbook: ParsedRunbook, args: Record<string, unknown>): ValidationResult;
export declare function renderRunbook(runbook: ParsedRunbook, values: Record<string, string>): string;
export declare function inputSchema(runbook: ParsedRunbook): Record<string, unknown>;
export declare function redactParams(runbook: ParsedRunbook, values: Record<string, string>): Record<string, string>;
export declare function envFor(runbook: ParsedRunbook, values: Record<string, string>): Record<string, string>;
