import type { ConnectionConfig } from '@rungate/config';
import type { ConnectionType, RunOutput, RunTicketClaims } from '@rungate/contracts';

/** Everything an adapter needs for one run, after the ticket was verified and the run claimed. */
export interface RunRequest {
  claims: RunTicketClaims;
  body: string;
  connection: ConnectionConfig;
}

/**
 * One adapter per connection type, behind the narrowest interface that serves them all.
 * `run` must stop touching the target when `signal` aborts (timeout or shutdown) and reject
 * with a RungateError (TIMEOUT, TARGET_UNAVAILABLE, EXECUTION_FAILED).
 */
export interface ExecutorAdapter {
  readonly type: ConnectionType;
  /** Checks the request fits this adapter (e.g. the body's language) before anything runs. */
  prepare(request: RunRequest): void;
  run(request: RunRequest, signal: AbortSignal): Promise<RunOutput>;
  /** Releases pools and connections. */
  close(): Promise<void>;
}

/** Masking hook: output is masked here, before it leaves the executor process. */
export interface OutputMasker {
  mask(output: RunOutput, claims: RunTicketClaims): RunOutput;
}

export const identityMasker: OutputMasker = { mask: (output) => output };
