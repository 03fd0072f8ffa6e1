/** Webhook payloads larger than this are refused before anything is verified. */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

export { BodyTooLargeError, readRawBody } from '@rungate/runtime';
