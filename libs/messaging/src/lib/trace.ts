import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/** What every log line and every hop of one call carries: W3C trace context and the run id. */
export interface CallContext {
  traceId: string;
  /** This hop's span: the parent of every request it sends on. */
  spanId: string;
  /** The caller's span, when the trace was continued from a `traceparent` header. */
  parentSpanId?: string;
  /** W3C trace-flags (bit 0: sampled), passed on as received so a tracer's sampling decision holds. */
  traceFlags: string;
  runId?: string;
}

/** The parts of a `traceparent` header (W3C Trace Context) a hop continues from. */
export interface TraceParent {
  traceId: string;
  parentSpanId: string;
  traceFlags: string;
}

const storage = new AsyncLocalStorage<CallContext>();
// version-traceid-parentid-flags; versions after 00 may append fields, which we ignore.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^]*)?$/;
const ALL_ZEROS = /^0+$/;
const SAMPLED = '01';

/**
 * Parses a `traceparent` header, or answers undefined for one a tracer must not continue:
 * malformed, upper-case, version ff, all-zero ids, or version 00 with extra fields. An
 * invalid header starts a new trace rather than failing the call.
 */
export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  const match = header ? TRACEPARENT.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, version, traceId = '', parentSpanId = '', traceFlags = '', extra] = match;
  if (version === 'ff' || (version === '00' && extra !== undefined)) return undefined;
  if (ALL_ZEROS.test(traceId) || ALL_ZEROS.test(parentSpanId)) return undefined;
  return { traceId, parentSpanId, traceFlags };
}

export function currentContext(): CallContext | undefined {
  return storage.getStore();
}

/**
 * Trace and span ids come from a pool of random bytes drawn 4 KiB at a time, each byte used
 * once: `randomBytes` per id was ~3 µs (a call to the system's generator for 8 bytes), several
 * ids a call. They identify, they protect nothing: W3C asks them to be random, not secret.
 */
const ID_POOL_BYTES = 4096;
let idPool = Buffer.alloc(0);
let idPoolOffset = 0;

function randomHex(bytes: number): string {
  if (idPoolOffset + bytes > idPool.length) {
    idPool = randomBytes(ID_POOL_BYTES);
    idPoolOffset = 0;
  }
  const hex = idPool.toString('hex', idPoolOffset, idPoolOffset + bytes);
  idPoolOffset += bytes;
  return hex;
}

export function newSpanId(): string {
  return randomHex(8);
}

/**
 * Runs `work` as a new span: continued from a `traceparent` header (same trace, the
 * header's span as parent), or the first span of a new trace. Every hop gets its own
 * context object, so a run id named in one service never leaks into another's.
 */
export function withContext<T>(traceparent: string | undefined, work: () => T): T {
  const parent = parseTraceparent(traceparent);
  const context: CallContext = parent
    ? { traceId: parent.traceId, spanId: newSpanId(), parentSpanId: parent.parentSpanId, traceFlags: parent.traceFlags }
    : { traceId: randomHex(16), spanId: newSpanId(), traceFlags: SAMPLED };
  return storage.run(context, work);
}

/** The header to send on the next hop: same trace and flags, this span as the parent. */
export function outgoingTraceparent(): string | undefined {
  const context = storage.getStore();
  return context ? `00-${context.traceId}-${context.spanId}-${context.traceFlags}` : undefined;
}

/** Names the run for the rest of this call, so every later log line carries it. */
export function setRunId(runId: string): void {
  const context = storage.getStore();
  if (context) context.runId = runId;
}
