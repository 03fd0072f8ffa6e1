import { RungateError, attemptCodeOf, type AttemptCode, type AuditEventInput } from '@rungate/contracts';

/** How a refusal is recorded beside the error the caller gets. */
export interface RefusalRecord {
  /** The audit reason, when it is not the error's message. */
  reason?: string;
  /** The rule that allowed the call before something else refused it. */
  rule?: string;
  details?: Record<string, unknown>;
}

/** The parts of the decision known when a call is refused: run id, runbook, connection, parameters, guardrails. */
export type RefusalBase = Pick<AuditEventInput, 'runId' | 'runbook' | 'connection' | 'params' | 'guardrails'>;

/**
 * A call refused by policy: `answer` is what the caller is told; `code`, `base` and `record`
 * what the audit trail keeps (a hidden tool is answered as an unknown one, recorded as
 * hidden). Thrown, and recorded once, by `Authorizer.authorize`.
 */
export class Refusal extends Error {
  constructor(
    readonly answer: RungateError,
    readonly code: AttemptCode,
    readonly base: RefusalBase = {},
    readonly record: RefusalRecord = {},
  ) {
    super(answer.message);
    this.name = 'Refusal';
  }
}

/** A refusal nobody anticipated (an error thrown on the way): recorded under the code its error suggests. */
export function refusalOf(error: unknown): Refusal {
  if (error instanceof Refusal) return error;
  if (!(error instanceof RungateError)) return new Refusal(new RungateError('INTERNAL', 'internal error; see the service log'), 'internal', {}, { reason: 'internal error in policy' });
  return new Refusal(error, attemptCodeOf(error.code));
}

/** The answer, marked so the gateway (and policy's own catch-all) does not record the attempt a second time. */
export function recordedAnswer(answer: RungateError): RungateError {
  return new RungateError(answer.code, answer.message, { ...answer.details, attemptRecorded: true });
}


/** Whether an answer's refusal is already on the record. */
export function isRecorded(error: unknown): boolean {
  return error instanceof RungateError && error.details?.['attemptRecorded'] === true;
}
