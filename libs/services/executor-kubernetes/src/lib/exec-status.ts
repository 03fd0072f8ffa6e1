/** The exec subprotocols Rungate speaks: v5 can close stdin on its own; v4 is what clusters before 1.30 offer. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export type ExecProtocol = (typeof EXEC_PROTOCOLS)[number];

/**
 * Under v4 stdin cannot be closed without closing the whole session, so the shell never
 * sees end-of-input: the script is followed by a line that exits with the last command's
 * status. The blank line first ends a trailing `\` continuation or comment.
 */
export const V4_SCRIPT_TRAILER = '\n\nexit\n';

/** What the status channel (3) said about the command. */
export type ExecOutcome = { exited: true; exitCode: number } | { exited: false; message: string };

interface StatusLike {
  status?: unknown;
  message?: unknown;
  reason?: unknown;
  details?: { causes?: { reason?: unknown; message?: unknown }[] };
}

/**
 * Reads the Status object the API server sends on channel 3 when the command ends:
 * `Success`, or `Failure` with reason `NonZeroExitCode` and the code in an `ExitCode` cause.
 * Any other failure (no such command, container gone) means the script did not run to an
 * exit status of its own.
 */
export function execOutcome(status: unknown): ExecOutcome {
  const s = (typeof status === 'object' && status !== null ? status : {}) as StatusLike;
  if (s.status === 'Success') return { exited: true, exitCode: 0 };
  if (s.reason === 'NonZeroExitCode') {
    const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
    const code = typeof cause?.message === 'string' && /^\d{1,3}$/.test(cause.message) ? Number(cause.message) : NaN;
    if (Number.isInteger(code)) return { exited: true, exitCode: code };
  }
  const message = typeof s.message === 'string' && s.message !== '' ? s.message : 'the API server reported a failure without a message';
  return { exited: false, message };
}
