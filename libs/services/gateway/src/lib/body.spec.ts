import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BodyNotJsonError, BodyTooLargeError, readJsonBody } from './body';

function request(chunks: string[], headers: Record<string, string> = {}): IncomingMessage {
  return Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { headers }) as unknown as IncomingMessage;
}

describe('reading a request body', () => {
  it('parses JSON sent in pieces', async () => {
    await expect(readJsonBody(request(['{"a":', '1}']), 100)).resolves.toEqual({ a: 1 });
  });

  it('refuses an oversized body by its declared length before reading it', async () => {
    await expect(readJsonBody(request(['{}'], { 'content-length': '1000' }), 100)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('refuses an oversized body while streaming when no length is declared', async () => {
    await expect(readJsonBody(request(['x'.repeat(60), 'x'.repeat(60)]), 100)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('tells malformed JSON apart', async () => {
    await expect(readJsonBody(request(['{"jsonrpc": tools']), 100)).rejects.toBeInstanceOf(BodyNotJsonError);
  });
});
