import type { IncomingMessage } from 'node:http';

/** Webhook payloads larger than this are refused before anything is verified. */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

/** The raw request body (signatures are computed over the exact bytes), bounded while streaming. */
export async function readRawBody(req: IncomingMessage, limit = MAX_WEBHOOK_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
