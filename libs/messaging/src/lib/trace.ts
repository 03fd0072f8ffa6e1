import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/** What every log line and every hop of one call carries: W3C trace context and the run id. */
export interface CallContext {
  traceId: string;
  spanId: string;
  runId?: string;
}

const storage = new AsyncLocalStorage<CallContext>();
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export function currentContext(): CallContext | undefined {
  return storage.getStore();
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** Runs `work` in a context continued from a `traceparent` header, or a new trace. */
export function withContext<T>(traceparent: string | undefined, work: () => T): T {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  const context: CallContext = match
    ? { traceId: match[1] as string, spanId: newSpanId() }
    : { traceId: randomBytes(16).toString('hex'), spanId: newSpanId() };
  return storage.run(context, work);
}

/** The header to send on the next hop: same trace, this span as the parent. */
export function outgoingTraceparent(): string | undefined {
  const context = storage.getStore();
  return context ? `00-${context.traceId}-${context.spanId}-01` : undefined;
}

/** Names the run for the rest of this call, so every later log line carries it. */
export function setRunId(runId: string): void {
  const context = storage.getStore();
  if (context) context.runId = runId;
}
