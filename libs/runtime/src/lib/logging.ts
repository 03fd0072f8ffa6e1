import type { LoggerService } from '@nestjs/common';
import { readEnvironment } from '@rungate/config';
import { currentContext } from '@rungate/messaging';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Structured JSON logs, one object per line. Every line logged while a call is in flight
 * carries its trace id and span id, and once the run is named (setRunId) its run id, so one
 * run can be followed across services. The fields come from the call's async context at
 * the moment of logging, so no caller has to pass them along.
 */
export function createLogger(service: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    base: { service },
    level: readEnvironment().LOG_LEVEL,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => {
      const context = currentContext();
      return context ? { trace_id: context.traceId, span_id: context.spanId, ...(context.runId ? { run_id: context.runId } : {}) } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Nest's logger interface on top of pino. */
export class JsonLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace', message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? (params[params.length - 1] as string) : undefined;
    const text = message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message);
    this.logger[level]({ ...(context ? { context } : {}) }, text);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
}
