import type { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {}
export class BodyNotJsonError extends Error {}

/** Reads at most `limit` bytes and parses them as JSON; the limit is enforced while streaming. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BodyNotJsonError();
  }
}
