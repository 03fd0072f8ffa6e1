import type { ConnectionConfig } from '@rungate/config';
import type { ConnectionType, ExplorationTool, RunOutput, RunTicketClaims } from '@rungate/contracts';

/** The configured connection an adapter of type `T` serves, e.g. `ConnectionOf<'postgres'>`. */
export type ConnectionOf<T extends ConnectionType> = Extract<ConnectionConfig, { type: T }>;

/** What the pipeline's output stage will need of a run besides its output, known before it runs. */
export interface OutputNeeds {
  /** SQL: each result column's source schema, table and column (masking's column rules). */
  sourceColumns: boolean;
}

/**
 * What one connection type does to run a script; everything type-independent (tickets,
 * replay guard, write-ahead audit, limits, masking, digests, shutdown) lives in
 * `RunPipeline`, so an adapter never sees an unverified request.
 *
 * Contract:
 * - Every failure is a `RungateError` whose message is safe to show an agent: no secret,
 *   no credential-bearing URL, no stack trace.
 * - `prepare` must not touch the target nor hold resources: the pipeline may still refuse
 *   the run after it (replayed run id, audit stream down, shutdown).
 * - `open`, when an adapter has it, sets up the run's session on the target while the
 *   pipeline claims the run id and waits for the audit stream's ack of `started` (ADR 9).
 *   It sends nothing of the runbook — no byte of the body, no parameter — so a run refused
 *   at that point has executed nothing: `abandon` closes the session.
 * - `run` must settle soon after `signal` aborts; `cancel` stops the work on the target.
 */
export interface ExecutorAdapter<T extends ConnectionType, Prepared> {
  readonly type: T;
  /**
   * The explorations (ADR 19) this adapter runs, each under its own read-only regime; a ticket
   * with any other `explore` claim is refused before `prepare`.
   */
  readonly explores?: readonly ExplorationTool[];
  /** Checks the body against what this executor will run and builds the run. */
  prepare(claims: RunTicketClaims, body: string, connection: ConnectionOf<T>, needs: OutputNeeds): Prepared | Promise<Prepared>;
  /**
   * Opens the run's session on the target (a pooled connection, a remote shell waiting on
   * its standard input, an exec stream into the pod) without sending anything of the
   * runbook. Settles soon after `signal` aborts; on failure it leaves nothing open, and
   * `run` reports the failure.
   */
  open?(prepared: Prepared, signal: AbortSignal): Promise<void>;
  /**
   * Closes what `open` set up for a run that will not go ahead (refused, no ack, shutdown);
   * sends nothing of the runbook. Called once `open` has settled, whichever way.
   */
  abandon?(prepared: Prepared): Promise<void>;
  /** Runs a prepared run (in the session `open` set up, if any); its output is unmasked and must already respect the claims' limits. */
  run(prepared: Prepared, signal: AbortSignal): Promise<RunOutput>;
  /** Stops a run on the target (called on timeout and shutdown); safe to call at any time, more than once. */
  cancel(prepared: Prepared): Promise<void>;
  /** Releases pools and connections when the executor stops. */
  close(): Promise<void>;
}
