import type { IncomingMessage } from 'node:http';
import { readRawBody } from '@rungate/runtime';

export { BodyTooLargeError } from '@rungate/runtime';
export class BodyNotJsonError extends Error {}

/** Reads at most `limit` bytes and parses them as JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readRawBody(req, limit);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new BodyNotJsonError();
  }
}
