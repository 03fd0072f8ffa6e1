import { Logger } from '@nestjs/common';
import { RungateError, type Reply } from '@rungate/contracts';
import type { z } from 'zod';

const log = new Logger('answer');

/**
 * Runs a handler's work and turns the outcome into a Reply: a RungateError becomes its
 * typed body, anything unexpected becomes INTERNAL (logged, never leaked to the caller).
 */
export async function answer<T>(work: () => Promise<T> | T): Promise<Reply<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof RungateError) return { ok: false, error: error.toBody() };
    log.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return { ok: false, error: { code: 'INTERNAL', message: 'internal error; see the service log' } };
  }
}

/** Validates a payload that arrived over the bus; the bus is not trusted. */
export function parsePayload<S extends z.ZodTypeAny>(schema: S, payload: unknown): z.infer<S> {
  const result = schema.safeParse(payload);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new RungateError('BAD_REQUEST', `malformed request: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}`);
  }
  return result.data;
}
