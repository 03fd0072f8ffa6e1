import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { WebhookSinkConfig } from './config';
import { SinkDeliveryError, classifySocketError, formatEvent, type DeliveryBatch, type SinkDelivery } from './delivery';

export const SIGNATURE_HEADER = 'X-Rungate-Signature';
export const TIMESTAMP_HEADER = 'X-Rungate-Timestamp';
export const EVENT_ID_HEADER = 'X-Rungate-Event-Id';

/**
 * `sha256=` + hex HMAC-SHA256(secret, `<timestamp>.<raw body>`), timestamp in Unix seconds
 * as sent in X-Rungate-Timestamp. Signing the timestamp lets receivers reject replays of an
 * old request; every retry is signed afresh.
 */
export function signWebhook(secret: string, timestamp: number, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export interface WebhookVerification {
  secret: string;
  /** The raw request body, byte for byte (not re-serialized JSON). */
  body: string | Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
  /** Unix seconds; defaults to now. */
  now?: number;
  toleranceSeconds?: number;
}

/** The receiver's side of {@link signWebhook}: constant-time, with a replay window. */
export function verifyWebhookSignature({ secret, body, timestamp, signature, now = Date.now() / 1000, toleranceSeconds = 300 }: WebhookVerification): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, Number(timestamp), body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const MAX_ERROR_BODY = 512;

/** Retry-After in seconds or as an HTTP date, in ms from `now`. */
export function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * POSTs events as JSON, one per request or a JSON array per batch. Only a 2xx confirms a
 * delivery; everything else (4xx included — a misconfigured receiver must not make events
 * disappear) is an error the runner retries. Redirects are not followed: the signed body
 * goes to the configured URL or nowhere.
 */
export class WebhookDelivery implements SinkDelivery {
  private readonly url: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {
    this.url = new URL(config.url);
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(config.ca ? { ca: readFileSync(config.ca) } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  /** The exact bytes POSTed for a batch (also what the signature covers). */
  body(batch: DeliveryBatch): string {
    const items = batch.events.map(({ event }) => formatEvent(event, this.config.format));
    return JSON.stringify(this.config.batch ? items : items[0]);
  }

  async deliver(batch: DeliveryBatch): Promise<void> {
    const body = Buffer.from(this.body(batch), 'utf8');
    const timestamp = Math.floor(this.now() / 1000);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Content-Length': String(body.length),
      'User-Agent': 'Rungate-Audit-Sink/1',
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signWebhook(this.secret, timestamp, body),
      'X-Rungate-Delivery-Attempt': String(batch.attempt),
    };
    const [first] = batch.events;
    if (this.config.batch) headers['X-Rungate-Event-Count'] = String(batch.events.length);
    else if (first) headers[EVENT_ID_HEADER] = first.event.id;
    const response = await this.post(body, headers);
    if (response.status >= 200 && response.status < 300) return;
    const hint =
      response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429
        ? ' — the receiver rejects the request itself (check URL, secret and receiver config); retrying, nothing is skipped'
        : '';
    throw new SinkDeliveryError(
      'HTTP_STATUS',
      `${this.url.origin}${this.url.pathname} answered HTTP ${response.status}${response.snippet ? ` (${response.snippet})` : ''}${hint}`,
      response.retryAfterMs,
    );
  }

  private post(body: Buffer, headers: Record<string, string>): Promise<{ status: number; snippet: string; retryAfterMs?: number }> {
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(this.url, { method: 'POST', headers, agent: this.agent });
      const timer = setTimeout(
        () => req.destroy(new SinkDeliveryError('TIMEOUT', `${this.url.origin} did not answer within ${this.config.timeout} ms`)),
        this.config.timeout,
      );
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error instanceof SinkDeliveryError ? error : classifySocketError(error, this.url.origin));
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          if (length < MAX_ERROR_BODY) chunks.push(chunk);
          length += chunk.length;
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(classifySocketError(error, this.url.origin));
        });
        res.on('close', () => {
          if (res.complete) return;
          clearTimeout(timer);
          reject(new SinkDeliveryError('CONNECTION', `${this.url.origin} closed the connection before the response ended`));
        });
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          const snippet = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY).replace(/\s+/g, ' ').trim();
          resolve({ status, snippet, retryAfterMs: retryAfterMs(res.headers['retry-after'], this.now()) });
        });
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
