import { createHash } from 'node:crypto';

/**
 * An audit event id derived from what happened, shaped as a UUID (version 5, SHA-256 of
 * `seed`): every replica, restart or retry that records the same happening publishes the same
 * id, and the AUDIT stream's duplicate window stores it once.
 */
export function derivedEventId(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
