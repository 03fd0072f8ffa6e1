import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import { outgoingTraceparent, setRunId, withContext } from '@rungate/messaging';
import { JsonLogger, createLogger } from './logging';

interface Line {
  level: string;
  time: string;
  service: string;
  msg: string;
  context?: string;
  trace_id?: string;
  span_id?: string;
  run_id?: string;
}

/** A logger whose lines land in an array instead of stdout, parsed as a log shipper would. */
function capture(service: string): { lines: Line[]; logger: JsonLogger } {
  const lines: Line[] = [];
  const logger = new JsonLogger(createLogger(service, { write: (line: string) => lines.push(JSON.parse(line) as Line) }));
  return { lines, logger };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How a service handles one run: the request arrives (a new span of the caller's trace),
 * the run id becomes known, then the work logs from awaits, timers and event callbacks.
 */
async function handleRun(log: Logger, runId: string, traceparent: string | undefined, stepMs: number): Promise<void> {
  await withContext(traceparent, async () => {
    log.log('request received');
    setRunId(runId);
    log.log('ticket verified');
    await tick(stepMs);
    log.warn('slow target');
    await new Promise<void>((resolve) => setTimeout(() => (log.log('timer fired'), resolve()), stepMs));
    const output = new EventEmitter();
    const done = new Promise<void>((resolve) => output.on('end', () => (log.log('output ended'), resolve())));
    setTimeout(() => output.emit('end'), stepMs);
    await done;
    await Promise.reject(new Error('target refused')).catch((error: Error) => log.error(`run failed: ${error.message}`));
  });
}

describe('JSON logs', () => {
  it('are one JSON object per line with level, ISO time, service, message and Nest context', () => {
    const { lines, logger } = capture('policy');
    logger.log('started', 'Bootstrap');
    logger.error(new Error('boom'));
    expect(lines[0]).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), service: 'policy', msg: 'started', context: 'Bootstrap' });
    expect(lines[1]).toMatchObject({ level: 'error', msg: 'boom' });
  });

  it('carry no trace or run fields outside a call', () => {
    const { lines, logger } = capture('gateway');
    logger.log('listening');
    expect(lines[0]).not.toHaveProperty('trace_id');
    expect(lines[0]).not.toHaveProperty('run_id');
  });

  it('carry the run id on every line of a run once it is named, and never another run\'s', async () => {
    const { lines, logger } = capture('executor-postgres');
    Logger.overrideLogger(logger);
    const log = new Logger('RunPipeline');
    const gatewaySpan = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    // Two runs at once, their steps interleaved by different delays.
    await Promise.all([handleRun(log, 'run-a', gatewaySpan, 3), handleRun(log, 'run-b', undefined, 1)]);

    // Every line after the run is named carries its id: none missing, none borrowed.
    for (const runId of ['run-a', 'run-b']) {
      const own = lines.filter((l) => l.run_id === runId);
      expect(own.map((l) => l.msg)).toEqual(['ticket verified', 'slow target', 'timer fired', 'output ended', 'run failed: target refused']);
      expect(new Set(own.map((l) => l.trace_id)).size).toBe(1);
      expect(own.every((l) => l.context === 'RunPipeline' && l.span_id)).toBe(true);
    }
    expect(lines).toHaveLength(12);
    expect(lines.filter((l) => l.msg === 'request received').every((l) => l.trace_id && !l.run_id)).toBe(true);
    expect(lines.find((l) => l.run_id === 'run-a')?.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(lines.find((l) => l.run_id === 'run-b')?.trace_id).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('let the next service continue the same trace under its own run context', async () => {
    const { lines, logger } = capture('gateway');
    const log = new Logger('ToolCalls');
    Logger.overrideLogger(logger);
    await withContext(undefined, async () => {
      setRunId('run-c');
      log.log('calling the executor');
      const sent = outgoingTraceparent();
      await withContext(sent, async () => log.log('executor side, before the ticket is read'));
    });
    expect(lines[0]).toMatchObject({ run_id: 'run-c', msg: 'calling the executor' });
    expect(lines[1]).toMatchObject({ trace_id: lines[0]?.trace_id });
    expect(lines[1]).not.toHaveProperty('run_id');
    expect(lines[1]?.span_id).not.toBe(lines[0]?.span_id);
  });
});
