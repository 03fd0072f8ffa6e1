import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { hostname as machineHostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { AuditEvent } from '@rungate/contracts';
import { sinkTarget, syslogPort, type SyslogSinkConfig } from './config';
import { SinkDeliveryError, classifySocketError, formatEvent, type DeliveryBatch, type SinkDelivery } from './delivery';
import { isAdverse } from './severity';

export const SyslogSeverity = { warning: 4, notice: 5 } as const;
export const SYSLOG_APP_NAME = 'rungate';

export function syslogSeverity(event: AuditEvent): number {
  return isAdverse(event) ? SyslogSeverity.warning : SyslogSeverity.notice;
}

/** RFC 5424 §6.3.3: inside PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash. */
export function escapeSdParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

const RFC5424_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** The event's own time when it is a valid RFC 5424 TIMESTAMP, else normalized, else NILVALUE. */
export function syslogTimestamp(time: string): string {
  if (RFC5424_TIME.test(time)) return time;
  const parsed = Date.parse(time);
  return Number.isNaN(parsed) ? '-' : new Date(parsed).toISOString();
}

/** Header fields are PRINTUSASCII with a maximum length; anything else becomes `_`. */
function headerField(value: string | undefined, max: number): string {
  const clean = (value ?? '').replace(/[^!-~]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/**
 * JSON with every non-ASCII character as a \u escape: the same JSON value, but the MSG is
 * plain ASCII, so no BOM is needed (RFC 5424 §6.4) and no receiver mangles UTF-8.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface SyslogHeader {
  facility: number;
  hostname: string;
  procId: string;
  structuredDataId: string;
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME rungate PROCID MSGID [sd-id eventId=".." ...] MSG`, where
 * MSGID is the event type and MSG the event as JSON (native or OCSF).
 */
export function formatSyslogMessage(event: AuditEvent, body: unknown, header: SyslogHeader): string {
  const pri = header.facility * 8 + syslogSeverity(event);
  const params: [string, string | undefined][] = [
    ['eventId', event.id],
    ['runId', event.runId],
    ['user', event.actor?.user],
    ['agent', event.actor?.agent],
    ['tool', event.tool],
    ['decision', event.decision?.effect],
    ['outcome', event.outcome?.status],
  ];
  const sd = params
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeSdParamValue(value)}"`)
    .join('');
  return [
    `<${pri}>1`,
    syslogTimestamp(event.time),
    headerField(header.hostname, 255),
    SYSLOG_APP_NAME,
    headerField(header.procId, 128),
    headerField(event.type, 32),
    `[${header.structuredDataId}${sd}]`,
    asciiJson(body),
  ].join(' ');
}

/** RFC 6587 §3.4.1 octet counting: `<byte length> <message>`. */
export function frameOctetCounted(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}

/**
 * TCP has no application-level ack: bytes the kernel accepted can still die with a receiver
 * that never read them. Frames written in this window before an unexpected drop are sent
 * again on the next connection (receivers dedupe by eventId).
 */
export const SYSLOG_REPLAY_WINDOW_MS = 10_000;
export const SYSLOG_REPLAY_MAX_BYTES = 4 * 1024 * 1024;

interface WrittenFrames {
  payload: Buffer;
  at: number;
}

/** RFC 5424 over TCP or TLS (RFC 5425) with octet-counted framing; one connection, reopened on demand. */
export class SyslogDelivery implements SinkDelivery {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private recent: WrittenFrames[] = [];
  private replay: Buffer[] = [];
  private readonly header: SyslogHeader;
  private readonly ca?: Buffer;
  private readonly target: string;

  constructor(
    private readonly config: SyslogSinkConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.header = {
      facility: config.facility,
      hostname: config.hostname ?? machineHostname(),
      procId: String(process.pid),
      structuredDataId: config.structuredDataId,
    };
    this.ca = config.ca ? readFileSync(config.ca) : undefined;
    this.target = sinkTarget(config);
  }

  frames(batch: DeliveryBatch): Buffer {
    return Buffer.concat(
      batch.events.map(({ event }) => frameOctetCounted(formatSyslogMessage(event, formatEvent(event, this.config.format), this.header))),
    );
  }

  async deliver(batch: DeliveryBatch): Promise<void> {
    const frames = this.frames(batch);
    const socket = await this.connection();
    const payload = this.replay.length > 0 ? Buffer.concat([...this.replay, frames]) : frames;
    await this.write(socket, payload);
    this.replay = [];
    this.remember(payload);
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), this.config.timeout);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private remember(payload: Buffer): void {
    const now = this.now();
    this.recent = [...this.recent.filter((w) => now - w.at <= SYSLOG_REPLAY_WINDOW_MS), { payload, at: now }];
    let bytes = this.recent.reduce((sum, w) => sum + w.payload.length, 0);
    while (bytes > SYSLOG_REPLAY_MAX_BYTES && this.recent.length > 1) bytes -= this.recent.shift()?.payload.length ?? 0;
  }

  /** A connection we did not close went away: what it may not have passed on is sent again. */
  private drop(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    const now = this.now();
    const unsure = this.recent.filter((w) => now - w.at <= SYSLOG_REPLAY_WINDOW_MS).map((w) => w.payload);
    this.replay = [...unsure, ...this.replay];
    this.recent = [];
    socket.destroy();
  }

  private connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return Promise.resolve(this.socket);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private open(): Promise<Socket> {
    const port = syslogPort(this.config);
    return new Promise<Socket>((resolve, reject) => {
      const socket = this.config.tls
        ? tlsConnect({
            host: this.config.host,
            port,
            // SNI carries names only (RFC 6066); for an IP the certificate is checked against it.
            servername: this.config.servername ?? (isIP(this.config.host) ? undefined : this.config.host),
            ca: this.ca,
            rejectUnauthorized: true,
          })
        : netConnect({ host: this.config.host, port });
      const timer = setTimeout(
        () => socket.destroy(new SinkDeliveryError('TIMEOUT', `${this.target}: no connection within ${this.config.timeout} ms`)),
        this.config.timeout,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error instanceof SinkDeliveryError ? error : classifySocketError(error, this.target));
      };
      socket.once('error', fail);
      socket.once(this.config.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.setKeepAlive(true, 30_000);
        socket.setNoDelay(true);
        // Receivers send nothing, but reading notices their FIN and frees the socket buffer.
        socket.on('data', () => undefined);
        socket.on('end', () => this.drop(socket));
        socket.on('error', () => this.drop(socket));
        socket.on('close', () => this.drop(socket));
        this.socket = socket;
        resolve(socket);
      });
    });
  }

  private write(socket: Socket, payload: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.drop(socket);
        reject(new SinkDeliveryError('TIMEOUT', `${this.target}: the receiver did not take ${payload.length} bytes within ${this.config.timeout} ms`));
      }, this.config.timeout);
      socket.write(payload, (error) => {
        clearTimeout(timer);
        if (error) {
          this.drop(socket);
          reject(classifySocketError(error, this.target));
        } else resolve();
      });
    });
  }
}
