import type { ProcessOutput } from '@rungate/contracts';

export const REDACTED = '[REDACTED]';
/** Shorter values would redact ordinary text everywhere; such a secret is weak anyway. */
const MIN_SECRET_LENGTH = 3;

function redactText(text: string, secrets: readonly string[], cut: boolean): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join(REDACTED);
  if (!cut) return result;
  // The byte cap may have cut a secret short: its first characters at the very end would
  // still be part of it. A trailing U+FFFD is a character the cap split.
  const kept = result.endsWith('\uFFFD') ? result.slice(0, -1) : result;
  for (const secret of secrets) {
    for (let length = Math.min(secret.length - 1, kept.length); length > 0; length--) {
      if (kept.endsWith(secret.slice(0, length))) return `${kept.slice(0, -length)}${REDACTED}`;
    }
  }
  return result;
}

/** Cuts `text` to at most `bytes` UTF-8 bytes without splitting a character. */
function fitBytes(text: string, bytes: number): string {
  const encoded = Buffer.from(text);
  if (encoded.length <= bytes) return text;
  let end = bytes;
  // A continuation byte (10xxxxxx) at the cut means the cut is inside a character.
  while (end > 0 && ((encoded[end] ?? 0) & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end).toString('utf8');
}

/**
 * Replaces the connection's resolved secret values in a run's stdout and stderr, so a
 * script that prints its environment cannot hand a credential to the caller. Only verbatim
 * values are caught (not base64 or other encodings of them): reviewing what a runbook
 * prints remains the control. Redaction can lengthen the text, so the byte cap is applied
 * again afterwards.
 */
export function redactSecrets(output: ProcessOutput, secrets: readonly string[], maxBytes: number): ProcessOutput {
  const hidden = [...new Set(secrets)].filter((secret) => secret.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (hidden.length === 0) return output;
  const stdout = redactText(output.stdout, hidden, output.truncated);
  const stderr = redactText(output.stderr, hidden, output.truncated);
  const keptStdout = fitBytes(stdout, maxBytes);
  const keptStderr = fitBytes(stderr, maxBytes - Buffer.byteLength(keptStdout));
  const refit = keptStdout !== stdout || keptStderr !== stderr;
  return { ...output, stdout: keptStdout, stderr: keptStderr, truncated: output.truncated || refit };
}
