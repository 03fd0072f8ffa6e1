import type { ConnectionRef, RunOutput, RunTicketClaims } from '@rungate/contracts';

export interface MaskingContext {
  claims: RunTicketClaims;
  connection: ConnectionRef;
}

/**
 * The seam for the masking profiles (DESIGN.md §2, step 4): output is masked inside the
 * executor before it is digested, audited or sent, so raw rows never cross the bus. Error
 * messages go through it too, because a database error can quote a row's values.
 */
export interface OutputMasker {
  maskOutput(output: RunOutput, context: MaskingContext): RunOutput | Promise<RunOutput>;
  maskMessage(message: string, context: MaskingContext): string;
}

/** No masking profile configured: output leaves as the target produced it. */
export const passThroughMasker: OutputMasker = {
  maskOutput: (output) => output,
  maskMessage: (message) => message,
};
