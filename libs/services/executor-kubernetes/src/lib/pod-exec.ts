import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { Exec, type KubeConfig } from '@kubernetes/client-node';
import { RungateError, InternalError } from '@rungate/contracts';
import { settlesWithin, type ProcessOutputCollector } from '@rungate/executors';
import WebSocket from 'ws';
import { EXEC_PROTOCOLS, V4_SCRIPT_TRAILER, execOutcome } from './exec-status';
import { statusMessage, type ApiResponse } from './kube-api';
import type { KubeTarget } from './kube-targets';

/** The WebSocket handshake (TCP, TLS, upgrade through the API server to the kubelet) may take this long. */
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** A rejected upgrade's explanation is read up to this size. */
const MAX_REJECTION_BYTES = 64 * 1024;
/** v5's channel for closing a stream. */
const CLOSE_CHANNEL = 255;

export interface PodChoice {
  pod: string;
  container: string;
}

export interface PodLike {
  metadata?: { name?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string }[] };
  status?: { phase?: string; conditions?: { type?: string; status?: string }[] };
}

/** Running, Ready and not terminating: a pod a shell runbook may run in. */
export function isReady(pod: PodLike): boolean {
  return (
    pod.status?.phase === 'Running' &&
    pod.metadata?.deletionTimestamp === undefined &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * The pod a shell runbook runs in: the first Running, Ready pod (not terminating) that the
 * selector matches, by name, so the same pods get the same choice. The container is the
 * connection's, else the pod's `kubectl.kubernetes.io/default-container`, else its first.
 */
export async function selectPod(target: KubeTarget, selector: string, container: string | undefined, signal: AbortSignal): Promise<PodChoice> {
  let response: ApiResponse;
  try {
    response = await target.api.request('GET', `/api/v1/namespaces/${target.namespace}/pods`, { query: { labelSelector: selector }, signal });
  } catch (error) {
    if (signal.aborted) throw new RungateError('EXECUTION_FAILED', 'the run was cancelled while it looked for a pod; nothing was executed');
    throw new RungateError('TARGET_UNAVAILABLE', `connection ${target.name}: cannot list pods: ${(error as Error).message}; nothing was executed`);
  }
  if (response.status !== 200) {
    const code = response.status === 400 ? 'EXECUTION_FAILED' : 'TARGET_UNAVAILABLE';
    throw new RungateError(code, `connection ${target.name}: listing pods matching ${selector} in namespace ${target.namespace} failed: ${target.scrubber.scrub(statusMessage(response))}; nothing was executed`);
  }
  const items = ((response.body as { items?: PodLike[] } | null)?.items ?? []).filter((pod) => typeof pod.metadata?.name === 'string');
  const ready = items.filter(isReady).sort((a, b) => ((a.metadata?.name as string) < (b.metadata?.name as string) ? -1 : 1));
  const chosen = ready[0];
  if (!chosen) {
    const seen = items.slice(0, 5).map((pod) => `${pod.metadata?.name} ${pod.metadata?.deletionTimestamp ? 'Terminating' : (pod.status?.phase ?? 'Unknown')}${pod.status?.phase === 'Running' ? ', not Ready' : ''}`);
    throw new RungateError(
      'TARGET_UNAVAILABLE',
      `connection ${target.name}: no Running and Ready pod in namespace ${target.namespace} matches ${selector}` +
        `${items.length ? ` (${items.length} matched: ${seen.join('; ')}${items.length > 5 ? '; …' : ''})` : ''}; nothing was executed`,
    );
  }
  const name = chosen.metadata?.name as string;
  const containers = (chosen.spec?.containers ?? []).map((c) => c.name).filter((c): c is string => typeof c === 'string');
  const wanted = container ?? chosen.metadata?.annotations?.['kubectl.kubernetes.io/default-container'] ?? containers[0];
  if (!wanted || !containers.includes(wanted)) {
    throw new RungateError('EXECUTION_FAILED', `connection ${target.name}: pod ${name} has no container ${wanted ?? '(none declared)'} (it has ${containers.join(', ') || 'none'}); nothing was executed`);
  }
  return { pod: name, container: wanted };
}

/** Why an upgrade was refused, read from the API server's answer (a Status object). */
class UpgradeRejected {
  constructor(
    readonly statusCode: number,
    readonly detail: string,
  ) {}
}

function readRejection(res: IncomingMessage): Promise<UpgradeRejected> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REJECTION_BYTES) chunks.push(chunk);
    });
    const done = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Plain text: the status code is enough.
      }
      resolve(new UpgradeRejected(res.statusCode ?? 0, statusMessage({ status: res.statusCode ?? 0, body })));
    };
    res.on('end', done);
    res.on('error', done);
  });
}

type WebSocketInterface = NonNullable<ConstructorParameters<typeof Exec>[1]>;
type BinaryHandler = Parameters<WebSocketInterface['connect']>[2];

/**
 * Opens the exec WebSocket for client-node's Exec (which keeps the stream handling: stdin,
 * stdout, stderr, the status channel). Done here rather than by client-node's own handler
 * to offer only the v5 and v4 subprotocols, to bound the handshake, to read the Status of a
 * refused upgrade, and so that a malformed frame ends the session instead of the process.
 */
class ExecConnector implements WebSocketInterface {
  socket?: WebSocket;
  rejection?: Promise<UpgradeRejected>;
  protocolError?: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly signal: AbortSignal,
  ) {}

  async connect(path: string, _textHandler: unknown, binaryHandler: BinaryHandler): Promise<WebSocket> {
    const server = new URL(this.kc.getCurrentCluster()?.server ?? '');
    const uri = `${server.protocol === 'https:' ? 'wss' : 'ws'}://${server.host}${server.pathname.replace(/\/$/, '')}${path}`;
    const options: WebSocket.ClientOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    if (this.signal.aborted) throw new InternalError('cancelled');
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(uri, [...EXEC_PROTOCOLS], { ...options, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, perMessageDeflate: false });
      this.socket = ws;
      // Without this listener ws reports only "Unexpected server response: 403"; the API server's Status says why.
      ws.on('unexpected-response', (_req, res) => {
        this.rejection = readRejection(res);
        void this.rejection.then(() => ws.terminate());
      });
      ws.on('error', reject);
      ws.once('open', () => resolve(ws));
      ws.on('message', (data: Buffer) => {
        const channel = data[0];
        // 255 is v5's close signal for a stream: nothing to do on this side once the status follows.
        if (channel === undefined || channel === CLOSE_CHANNEL) return;
        try {
          if (binaryHandler && !binaryHandler(channel, data.subarray(1))) ws.close();
        } catch (error) {
          this.protocolError = `the API server sent a frame the exec protocol does not allow (${(error as Error).message.slice(0, 80)})`;
          ws.terminate();
        }
      });
    });
  }
}

/**
 * Hands stdout and stderr to the run's output budget. A warm session has no run yet: a byte
 * it receives before one takes it (a shell that printed something unasked) makes it unusable.
 */
class OutputRoute {
  stray = false;

  constructor(public collector: ProcessOutputCollector | undefined) {}

  sink(stream: 'stdout' | 'stderr'): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.collector) this.collector.write(stream, chunk);
        else this.stray = true;
        callback();
      },
    });
  }
}

export interface PodSession {
  target: KubeTarget;
  pod: PodChoice;
  /** The interpreter in the pod that reads the script: `<shell> -s`. */
  shell: 'sh' | 'bash';
  /** Where stdout and stderr go; a warm session gets its run's with `bind`. */
  output?: ProcessOutputCollector;
  /**
   * Aborted by `cancel` (or the run's interruption): closes the session, whenever it comes.
   * A warm session's is its pool's until `bind` gives it the run's.
   */
  signal: AbortSignal;
}

const STDIN_CHANNEL = 0;
/** v5: closes stdin (channel 0), so the shell reads end-of-input. */
const CLOSE_STDIN = Buffer.from([CLOSE_CHANNEL, STDIN_CHANNEL]);
/** How long a closing session may take to finish its close handshake before its socket is dropped. */
const CLOSE_HANDSHAKE_MS = 1000;

/** What the status channel and the socket said, as it arrives. */
interface SessionState {
  status?: unknown;
  statusSeen: boolean;
  ended: boolean;
  end: () => void;
}

/**
 * `sh -s` (or `bash -s`) in a pod over the exec WebSocket (client-node's Exec), waiting on
 * its standard input. `open` lists nothing and sends nothing of the runbook: it opens the
 * session, so the handshake can overlap the run's admission (ADR 9). `run` then sends the
 * script on stdin — never in the command line, which the API server's audit log records and
 * `ps` shows — or `close` ends a session that will not run, with stdin closed first (v5) so
 * the shell reads end-of-input and runs nothing.
 */
export class PodExecSession {
  private scriptSent = false;
  private readonly sessionEnded: Promise<void>;
  private readonly onAbort = () => this.close();
  /** What closes the session: the run's signal, or a warm session's pool's until a run takes it. */
  private signal: AbortSignal;

  private constructor(
    private readonly session: PodSession,
    private readonly connector: ExecConnector,
    private readonly ws: WebSocket,
    private readonly stdin: PassThrough,
    private readonly where: string,
    private readonly state: SessionState,
    private readonly route: OutputRoute,
  ) {
    this.signal = session.signal;
    // Output precedes the status on the one ordered stream, so the status (or a close without one) ends the run.
    this.sessionEnded = new Promise<void>((resolve) => {
      state.end = () => {
        state.ended = true;
        resolve();
      };
      if (state.statusSeen) state.end();
      ws.on('close', state.end);
      if (ws.readyState === WebSocket.CLOSED) state.end();
    });
    session.signal.addEventListener('abort', this.onAbort, { once: true });
    if (session.signal.aborted) this.close();
  }

  /**
   * Opens the exec session to `sh -s` in the pod; nothing is written to its stdin. Settles
   * soon after `signal` aborts; on failure nothing is left open.
   */
  static async open(session: PodSession): Promise<PodExecSession> {
    const { target, pod, signal } = session;
    const where = `pod ${pod.pod} (container ${pod.container}, namespace ${target.namespace})`;
    if (signal.aborted) throw new RungateError('EXECUTION_FAILED', `the exec session to ${where} was cancelled before it opened; nothing was executed`);
    const connector = new ExecConnector(target.kc, signal);
    const onAbort = () => connector.socket?.close();
    signal.addEventListener('abort', onAbort, { once: true });
    // client-node pipes this stream to the stdin channel; nothing is ever written to it: the script goes as one frame in `run`.
    const stdin = new PassThrough();
    const state: SessionState = { statusSeen: false, ended: false, end: () => undefined };
    const route = new OutputRoute(session.output);
    let ws: WebSocket;
    try {
      ws = (await new Exec(target.kc, connector).exec(
        target.namespace,
        pod.pod,
        pod.container,
        [session.shell, '-s'],
        route.sink('stdout'),
        route.sink('stderr'),
        stdin,
        false,
        (status) => {
          state.status = status;
          state.statusSeen = true;
          state.end();
        },
      )) as unknown as WebSocket;
    } catch (error) {
      stdin.destroy();
      const failure = await openFailure(error, connector.rejection, target, where, signal);
      connector.socket?.terminate();
      throw failure;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) {
      stdin.destroy();
      ws.terminate();
      throw new RungateError('EXECUTION_FAILED', `the exec session to ${where} was cancelled while it was opening; nothing was executed`);
    }
    return new PodExecSession(session, connector, ws, stdin, where, state, route);
  }

  /** Settles when the session has ended: its status arrived, or its socket closed. */
  get ended(): Promise<void> {
    return this.sessionEnded;
  }

  /**
   * Whether the script could still be sent: nothing was, the socket is open, the command has
   * not ended, and nothing arrived that a waiting `sh -s` would not send.
   */
  get usable(): boolean {
    return !this.scriptSent && !this.state.ended && this.ws.readyState === WebSocket.OPEN && !this.route.stray && this.connector.protocolError === undefined;
  }

  /**
   * Gives a warm session to a run: its output goes to `output` and `signal` closes it from
   * now on (the pool's no longer does). Sends nothing.
   */
  bind(output: ProcessOutputCollector, signal: AbortSignal): void {
    if (this.scriptSent) throw new InternalError('a session whose script was sent cannot be given to another run');
    this.signal.removeEventListener('abort', this.onAbort);
    this.route.collector = output;
    this.signal = signal;
    signal.addEventListener('abort', this.onAbort, { once: true });
    if (signal.aborted) this.close();
  }

  /**
   * Sends the script on stdin and resolves with the exit code from the status channel. On
   * v5 stdin is closed after the script; on v4 (no half-close) a trailer makes the shell
   * exit. A session that ends without a status is an unknown outcome, since the script may
   * have run in part.
   */
  async run(script: string): Promise<number> {
    // `script` is the shell prelude (asenv exports) and the runbook body.
    const { target } = this.session;
    const signal = this.signal;
    try {
      if (signal.aborted) throw new RungateError('EXECUTION_FAILED', 'the run was cancelled before it started; nothing was executed');
      if (this.state.ended) throw this.endedUnused();
      this.scriptSent = true;
      const v5 = this.ws.protocol === 'v5.channel.k8s.io';
      this.ws.send(Buffer.concat([Buffer.from([STDIN_CHANNEL]), Buffer.from(v5 ? script : script + V4_SCRIPT_TRAILER, 'utf8')]));
      if (v5) this.ws.send(CLOSE_STDIN);
      await this.sessionEnded;
    } finally {
      this.release();
    }
    const { status, statusSeen } = this.state;
    if (!statusSeen && signal.aborted) {
      throw new RungateError(
        'EXECUTION_FAILED',
        `the exec session to ${this.where} was closed; Kubernetes does not signal the process, so a command still running in the container ends only when it next writes output`,
      );
    }
    if (this.connector.protocolError) throw new RungateError('OUTCOME_UNKNOWN', `exec in ${this.where}: ${this.connector.protocolError}; the script may have run in part — check the pod`);
    if (!statusSeen) {
      throw new RungateError('OUTCOME_UNKNOWN', `the exec session to ${this.where} ended before the command reported an exit status; the script may have run in part — check the pod`);
    }
    const outcome = execOutcome(status);
    if (!outcome.exited) throw new RungateError('EXECUTION_FAILED', `exec in ${this.where} failed: ${target.scrubber.scrub(outcome.message)}`);
    return outcome.exitCode;
  }

  /** The session ended before the script was sent: the command failed to start (no such shell), or the connection was lost. */
  private endedUnused(): RungateError {
    const outcome = this.state.statusSeen ? execOutcome(this.state.status) : undefined;
    if (outcome && !outcome.exited) {
      return new RungateError('EXECUTION_FAILED', `exec in ${this.where} failed: ${this.session.target.scrubber.scrub(outcome.message)}; nothing was executed`);
    }
    const why = this.connector.protocolError ?? (outcome ? 'the command exited before it was sent' : 'the connection closed');
    return new RungateError('TARGET_UNAVAILABLE', `the exec session to ${this.where} ended before the script was sent (${why}); nothing was executed`);
  }

  /**
   * Ends a session whose script was never sent: stdin closed (v5), then the socket, so the
   * shell reads end-of-input and runs nothing. Resolves once the socket is closed.
   */
  async abandon(): Promise<void> {
    this.close();
    this.release();
    if (this.state.ended) return;
    await settlesWithin(this.sessionEnded, CLOSE_HANDSHAKE_MS);
    if (!this.state.ended) this.ws.terminate();
  }

  /** Closes the session (cancel, abandon); before the script was sent, stdin is closed first (v5). Safe more than once. */
  private close(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.scriptSent && this.ws.protocol === 'v5.channel.k8s.io') this.ws.send(CLOSE_STDIN);
    this.ws.close();
  }

  private release(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.stdin.destroy();
  }
}

/** Why the session did not open: nothing ran in the pod. */
async function openFailure(error: unknown, rejection: Promise<UpgradeRejected> | undefined, target: KubeTarget, where: string, signal: AbortSignal): Promise<RungateError> {
  if (signal.aborted) return new RungateError('EXECUTION_FAILED', `the exec session to ${where} was cancelled while it was opening; nothing was executed`);
  const refused = rejection ? await rejection : undefined;
  if (refused) {
    const code = refused.statusCode === 401 || refused.statusCode >= 500 ? 'TARGET_UNAVAILABLE' : 'EXECUTION_FAILED';
    return new RungateError(code, `connection ${target.name}: the API server refused exec in ${where}: ${target.scrubber.scrub(refused.detail)}; nothing was executed`);
  }
  // client-node rejects with the WebSocket's ErrorEvent; the Error (and its code) is inside.
  const inner = (error as { error?: NodeJS.ErrnoException }).error ?? (error as NodeJS.ErrnoException);
  const why = inner?.code ?? inner?.message ?? 'connection failed';
  return new RungateError('TARGET_UNAVAILABLE', `connection ${target.name}: cannot open an exec session to ${where} on ${target.api.address}: ${target.scrubber.scrub(why)}; nothing was executed`);
}
