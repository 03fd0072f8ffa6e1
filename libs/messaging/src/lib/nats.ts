import { readEnvironment } from '@rungate/config';
import { connect, type NatsConnection } from 'nats';

export interface NatsConnectOptions {
  url?: string;
  name: string;
  /** Fail after one attempt instead of waiting for NATS: for a command an operator waits on. */
  failFast?: boolean;
}

export function natsUrl(env: NodeJS.ProcessEnv = process.env): string {
  return readEnvironment(env).NATS_URL;
}

/**
 * One connection per process that reconnects forever: a NATS restart is an outage of
 * seconds, not a reason for every service to exit. A CLI command fails fast instead.
 */
export async function connectNats({ url = natsUrl(), name, failFast = false }: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: url.split(','),
    name,
    maxReconnectAttempts: failFast ? 0 : -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: !failFast,
    ...(failFast ? { timeout: 5000 } : {}),
    pingInterval: 10_000,
    // Capturing a stack trace for every request's possible timeout cost more CPU than the
    // request itself; our errors are typed and say which subject failed.
    noAsyncTraces: true,
  });
}
