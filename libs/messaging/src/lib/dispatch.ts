import { Logger } from '@nestjs/common';
import type { MessageHandler } from '@nestjs/microservices';
import { RungateError, type Reply } from '@rungate/contracts';
import { isObservable, lastValueFrom } from 'rxjs';

const log = new Logger('dispatch');

/**
 * Invokes a Nest message/event handler and turns whatever it does into a Reply. Shared by
 * the NATS and in-process transports so a handler behaves the same on both.
 */
export async function invokeHandler(subject: string, handler: MessageHandler, payload: unknown, context: unknown): Promise<Reply<unknown>> {
  try {
    const returned = await handler(payload, context);
    const value = isObservable(returned) ? await lastValueFrom(returned, { defaultValue: undefined }) : returned;
    return (value as Reply<unknown> | undefined) ?? { ok: false, error: { code: 'INTERNAL', message: 'handler returned nothing' } };
  } catch (error) {
    if (error instanceof RungateError) return { ok: false, error: error.toBody() };
    log.error(`handler for ${subject} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
    return { ok: false, error: new RungateError('INTERNAL', 'internal error; see the service log').toBody() };
  }
}
