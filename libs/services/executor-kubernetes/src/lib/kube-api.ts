import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SecretScrubber } from '@rungate/executors';
import { InternalError } from '@rungate/contracts';

/** How a request ends when its response outgrows MAX_RESPONSE_BYTES: an errno-style error, as the socket's own are. */
class ResponseTooLarge extends Error implements NodeJS.ErrnoException {
  readonly code = 'ERESPONSETOOLARGE';

  constructor() {
    super('response too large');
  }
}

/** One API request may take this long at most, whatever the run's own time limit. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Larger answers are cut off: no pod list or object a runbook touches comes near it. */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface ApiRequest {
  query?: Record<string, string | undefined>;
  /** The request body, already serialized for `contentType`. */
  body?: string;
  contentType?: string;
  signal: AbortSignal;
  /** The answer is text (a pod's log): kept as it is, even when a line happens to be JSON. */
  text?: boolean;
}

export interface ApiResponse {
  status: number;
  /** The parsed JSON answer; a non-JSON answer is kept as text. */
  body: unknown;
}

/** Errors that can mean the request never reached the API server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/**
 * The API server could not be asked, or did not answer. `reached` says whether the request
 * may have had an effect: a refused connection had none, a connection lost after the request
 * was written may have.
 */
export class ApiTransportError extends Error {
  constructor(
    message: string,
    readonly reached: boolean,
    readonly cancelled: boolean,
  ) {
    super(message);
    this.name = 'ApiTransportError';
  }
}

/** `{kind: Status}` answers carry the API server's own explanation; other answers get their HTTP status. */
export function statusMessage(response: ApiResponse): string {
  const body = response.body;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const { message, reason } = body as { message?: unknown; reason?: unknown };
    if (typeof message === 'string' && message !== '') return typeof reason === 'string' && reason !== '' ? `${message} (${reason})` : message;
  }
  return `HTTP ${response.status}`;
}

/**
 * A small REST client over a KubeConfig: client-node supplies the credentials (tokens,
 * client certificates, exec and OIDC plugins, in-cluster service-account tokens, re-read on
 * rotation) for every request; this keeps one keep-alive agent per cluster and gives the
 * callers what the generated clients hide — the HTTP status (201 Created against 200), the
 * exact content type of a patch, and the body as sent.
 */
export class KubeApi {
  readonly server: URL;
  private agent?: http.Agent;

  constructor(
    private readonly kc: KubeConfig,
    private readonly scrubber: SecretScrubber,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new InternalError('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  /** `host:port` of the API server: enough to find it in messages, nothing to log in with. */
  get address(): string {
    return this.server.host;
  }

  async request(method: string, path: string, request: ApiRequest): Promise<ApiResponse> {
    const url = new URL(`${this.server.pathname.replace(/\/$/, '')}${path}`, this.server);
    for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    const options: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    try {
      await this.kc.applyToHTTPSOptions(options);
    } catch (error) {
      throw new ApiTransportError(`cannot get credentials for ${this.address}: ${this.scrubber.scrub((error as Error).message ?? String(error))}`, false, false);
    }
    options.agent = this.agentFor(options);
    if (request.contentType) (options.headers as http.OutgoingHttpHeaders)['Content-Type'] = request.contentType;
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
    return this.send(url, options, request.body, signal, request.signal, request.text ?? false);
  }

  close(): void {
    this.agent?.destroy();
  }

  /**
   * client-node builds a fresh agent for every call (no connection reuse); its TLS settings
   * go into one keep-alive agent instead. A proxy keeps client-node's own agent.
   */
  private agentFor(options: https.RequestOptions): http.Agent | undefined {
    if (this.kc.getCurrentCluster()?.proxyUrl) return options.agent as http.Agent | undefined;
    if (!this.agent) {
      this.agent =
        this.server.protocol === 'http:'
          ? new http.Agent({ keepAlive: true })
          : new https.Agent({
              keepAlive: true,
              ca: options.ca,
              cert: options.cert,
              key: options.key,
              pfx: options.pfx,
              passphrase: options.passphrase,
              servername: options.servername,
              ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
            });
    }
    return this.agent;
  }

  private send(url: URL, options: https.RequestOptions, body: string | undefined, signal: AbortSignal, cancel: AbortSignal, asText: boolean): Promise<ApiResponse> {
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<ApiResponse>((resolve, reject) => {
      let written = false;
      const fail = (error: NodeJS.ErrnoException) => {
        const code = error.code ?? '';
        const cancelled = cancel.aborted;
        const reached = written && !NOT_SENT.has(code);
        const why = cancelled ? 'the request was cancelled' : signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : this.scrubber.scrub(code || error.message || 'connection failed');
        reject(new ApiTransportError(`${this.address}: ${why}`, reached, cancelled));
      };
      const req = transport.request(url, { ...options, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new ResponseTooLarge());
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
          try {
            if (!(asText && ok)) parsed = text === '' ? null : JSON.parse(text);
          } catch {
            // Not JSON (a proxy's error page): the status code still tells what happened.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('error', fail);
      req.on('finish', () => (written = true));
      req.end(body);
    });
  }
}
