import { randomUUID } from 'node:crypto';
import { Controller, Delete, Get, Inject, Logger, Post, Req, Res } from '@nestjs/common';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  ErrorCode as McpErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type CallToolRequest,
  type RequestId,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { ERROR_EDGES, GatewayCancel, MAX_TOOL_NAME, RungateError, Subjects, type AttemptCode, type Identity, type RequestMeta } from '@rungate/contracts';
import { actorOf, withContext, type Bus } from '@rungate/messaging';
import { BUS, CONFIG, type ConfigHolder } from '@rungate/runtime';
import type { Request, Response } from 'express';
import { BodyNotJsonError, BodyTooLargeError, readJsonBody } from './body';
import { BearerGate, metaOf, type BearerRefusal } from './bearer-gate';
import { EdgeAttempts } from './edge-attempts';
import type { HeldProgress } from './held-wait';
import { presentedBearer, type Caller } from './identity.guard';
import { InFlightCalls, callerDigest } from './in-flight-calls';
import { inspectBody, type InspectedBody } from './jsonrpc';
import { resourceMetadataUrl } from './protected-resource';
import { CallCancelled, ToolCalls, type EarlyAuthorization } from './tool-calls';
import { ToolTasks } from './tool-tasks';

const SERVER_INFO = { name: 'rungate', version: '0.1.0' };
/**
 * One JSON Schema validator for every per-request server: by default each `new Server()`
 * builds its own Ajv instance, about 0.5 ms of CPU per request (measured: 538 vs 42 µs).
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();
const IDEMPOTENCY_META_KEY = 'io.rungate/idempotencyKey';
const SESSION_HEADER = 'mcp-session-id';
/**
 * MCP tasks (2025-11-25, ADR 18 §8): tasks/get, tasks/result, tasks/list, tasks/cancel and
 * task-augmented tools/call of the tools that say `execution.taskSupport`; every task is kept by
 * policy, so any replica answers it.
 */
const CAPABILITIES = { tools: { listChanged: false }, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } };
/** Streamable HTTP: a session id is visible ASCII (0x21–0x7E). */
const SESSION_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * A RungateError as the JSON-RPC error of its code (ERROR_EDGES), its code in `data`; one
 * answered as a tool result there, where the request has no result to carry it, is an
 * internal error. Anything else is rethrown for the SDK to answer.
 */
function protocolError(error: unknown): unknown {
  if (!(error instanceof RungateError)) return error;
  const edge = ERROR_EDGES[error.code].mcp;
  return new McpError(edge === 'result' ? McpErrorCode.InternalError : edge, error.message, { code: error.code });
}

function jsonRpcError(res: Response, status: number, code: number, message: string, id: RequestId | null = null): void {
  res.status(status).json({ jsonrpc: '2.0', id, error: { code, message } });
}

/** The tool a tools/call names, as sent, when it names one. */
function requestedTool(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { method, params } = body as { method?: unknown; params?: unknown };
  if (method !== 'tools/call' || typeof params !== 'object' || params === null) return undefined;
  const name = (params as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

/** The progress token a tools/call asks progress for (`params._meta.progressToken`), if any. */
function progressTokenOf(message: unknown): unknown {
  const { method, params } = message as { method?: unknown; params?: { _meta?: { progressToken?: unknown } } };
  return method === 'tools/call' ? params?._meta?.progressToken : undefined;
}

/** The idempotency key of a tools/call: its `_meta` key, else the Idempotency-Key header. */
function idempotencyKeyOf(params: CallToolRequest['params'], headerKey: string | string[] | undefined): unknown {
  // Passed on as sent, whatever its type: policy refuses a bad key on the record rather
  // than the gateway dropping it (a dropped key would let a retry run twice).
  const metaKey: unknown = params._meta?.[IDEMPOTENCY_META_KEY];
  return metaKey !== undefined ? metaKey : headerKey;
}

/**
 * The tools/call a body is, when policy may authenticate and authorize it in one round trip
 * (ADR 24); not one whose name no tool can have (answered unknown without asking policy).
 */
function singleToolCall(inspected: InspectedBody): { message: CallToolRequest; id: RequestId } | undefined {
  if (inspected.kind !== 'message' || inspected.request?.method !== 'tools/call') return undefined;
  // inspectBody checked the params with the SDK's own CallToolRequestSchema.
  const message = inspected.message as unknown as CallToolRequest;
  return message.params.name.length <= MAX_TOOL_NAME ? { message, id: inspected.request.id } : undefined;
}

/** A tools/call authorized before the SDK saw it (ADR 24): its id, its cancellation, and policy's answer. */
interface AuthorizedCall {
  requestId: RequestId;
  call: AbortController;
  early: EarlyAuthorization;
}

/** The session id a client sends back, if it is a well-formed one. */
function sessionOf(req: Request): string | undefined {
  const value = req.headers[SESSION_HEADER];
  return typeof value === 'string' && SESSION_ID.test(value) ? value : undefined;
}

/**
 * A cancelled request gets no response (MCP cancellation): its POST ends as an event stream
 * that carries nothing. The SDK client, which stopped waiting when it cancelled, reads it and
 * moves on; a client that went away is not written to.
 */
function endWithoutResponse(res: Response): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform' });
  res.end();
}

/**
 * The MCP front door (Streamable HTTP, stateless): every POST is authenticated, then served
 * by a fresh MCP server bound to that caller's identity. The gateway answers what the SDK
 * cannot know across requests itself: a malformed envelope (-32600), invalid params (-32602),
 * and `notifications/cancelled`, which is its own POST and names a call another POST — maybe
 * at another replica — is serving.
 */
@Controller('mcp')
export class McpController {
  private readonly log = new Logger(McpController.name);

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(BUS) private readonly bus: Bus,
    private readonly gate: BearerGate,
    private readonly toolCalls: ToolCalls,
    private readonly tasks: ToolTasks,
    private readonly calls: InFlightCalls,
    private readonly attempts: EdgeAttempts,
  ) {}

  @Post()
  post(@Req() req: Request, @Res() res: Response): Promise<void> {
    const traceparent = req.headers['traceparent'];
    return withContext(typeof traceparent === 'string' ? traceparent : undefined, () => this.serve(req, res));
  }

  /**
   * A request presenting a token has its body read first: a tools/call is then authenticated and
   * authorized in one round trip to policy (ADR 24), answered 401 before the SDK sees it when its
   * token does not authenticate. Anything else is authenticated first, as a request without a
   * well-formed token always is, before its body is read.
   */
  private async serve(req: Request, res: Response): Promise<void> {
    const read = this.gate.mayAuthenticate(req) ? await this.readBody(req) : undefined;
    const inspected = read && 'body' in read ? inspectBody(read.body) : undefined;
    const toolCall = inspected && singleToolCall(inspected);
    if (toolCall) return this.serveToolCall(req, res, toolCall.message, toolCall.id);
    const caller = await this.identify(req, res);
    if (!caller) return;
    const body = read ?? (await this.readBody(req));
    if ('error' in body) return this.refuseBody(req, res, caller, body.error);
    await this.serveBody(req, res, caller, body.body, inspected ?? inspectBody(body.body));
  }

  private async readBody(req: Request): Promise<{ body: unknown } | { error: unknown }> {
    try {
      return { body: await readJsonBody(req, this.config.current.gateway.maxBodyBytes) };
    } catch (error) {
      return { error };
    }
  }

  /**
   * One tools/call, its token authenticated in the same request to policy that authorizes it.
   * The call is cancellable from the start (a notifications/cancelled, its client going away),
   * and its time limit counts from then: as when policy was asked from the SDK's handler.
   */
  private async serveToolCall(req: Request, res: Response, message: CallToolRequest, requestId: RequestId): Promise<void> {
    const bearer = presentedBearer(req.headers.authorization) ?? '';
    const session = sessionOf(req);
    const call = new AbortController();
    const untrack = this.calls.register({ caller: callerDigest(bearer), requestId, ...(session === undefined ? {} : { session }) }, call);
    const gone = () => call.abort('the client closed its connection');
    res.once('close', gone);
    try {
      const startedAt = performance.now();
      const { name, arguments: args = {}, task } = message.params;
      const request = { tool: name, args, idempotencyKey: idempotencyKeyOf(message.params, req.headers['idempotency-key']), task: task !== undefined, ...(session === undefined ? {} : { session }) };
      const identified = await this.gate.identifyWith(req, (presented) => this.toolCalls.authorizeBearer(presented, metaOf(req), request));
      if ('refusal' in identified) return this.answerRefusal(req, res, identified.refusal);
      const early = { startedAt, ...(identified.answer === undefined ? {} : { decided: identified.answer }) };
      await this.serveMessage(req, res, identified.caller, message, { requestId, call, early });
    } finally {
      res.off('close', gone);
      untrack();
    }
  }

  private async serveBody(req: Request, res: Response, caller: Caller, body: unknown, inspected: InspectedBody): Promise<void> {
    switch (inspected.kind) {
      case 'error': {
        const { status, code, message, id } = inspected.error;
        const tool = requestedTool(body);
        await this.attempts.record({
          actor: actorOf(caller.identity, metaOf(req)),
          code: 'malformed-request',
          reason: message,
          answered: `jsonrpc:${code}`,
          ...(tool === undefined ? {} : { tool }),
        });
        jsonRpcError(res, status, code, message, id);
        return;
      }
      case 'ignored':
        res.status(202).end();
        return;
      case 'cancel':
        this.relayCancel(caller, sessionOf(req), inspected.requestId, inspected.reason);
        res.status(202).end();
        return;
      case 'message':
        // Stateless, yet a session id tells apart two clients sharing one token, whose request
        // ids both count from 0: a cancellation then reaches only the client that sent it.
        if (inspected.request?.method === 'initialize') res.setHeader('Mcp-Session-Id', randomUUID());
        await this.serveMessage(req, res, caller, inspected.message);
    }
  }

  /** `authorized`: the tools/call this message is, when it was authorized before (serveToolCall). */
  private async serveMessage(req: Request, res: Response, caller: Caller, message: unknown, authorized?: AuthorizedCall): Promise<void> {
    const meta = metaOf(req);
    const cancelled = () => {
      endWithoutResponse(res);
      // Closed before the handler settles, so the SDK sends nothing for the cancelled request.
      close();
    };
    const server = this.mcpServer(caller, sessionOf(req), meta, req.headers['idempotency-key'], cancelled, authorized);
    // A JSON answer carries no notifications: a call that may wait for an approval and report
    // progress (gateway.heldCallWait) is answered as an event stream, the progress on it.
    const streamed = this.config.current.gateway.heldCallWait > 0 && progressTokenOf(message) !== undefined;
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !streamed });
    // Closing the transport aborts the signal of a request still being handled: a client that
    // goes away mid-call (its connection closes) cancels the call.
    const close = () => {
      void transport.close();
      void server.close();
    };
    res.on('close', close);
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, message);
    } catch (error) {
      this.log.error(`MCP request failed: ${(error as Error).message}`);
      await this.attempts.record({ actor: actorOf(caller.identity, meta), code: 'internal', reason: `the MCP request failed: ${(error as Error).message}`, answered: 'jsonrpc:-32603' });
      if (!res.headersSent) jsonRpcError(res, 500, McpErrorCode.InternalError, 'internal error');
    }
  }

  @Get()
  get(@Res() res: Response): void {
    res.setHeader('Allow', 'POST');
    jsonRpcError(res, 405, -32000, 'Method not allowed: this gateway is stateless; use POST');
  }

  @Delete()
  delete(@Res() res: Response): void {
    res.setHeader('Allow', 'POST');
    jsonRpcError(res, 405, -32000, 'Method not allowed: sessions hold no state here, so there is nothing to end');
  }

  /**
   * Relays a client's `notifications/cancelled` to every gateway replica (this one included):
   * the one serving that call stops it. Only the caller's own calls match (see InFlightCalls).
   */
  private relayCancel(caller: Caller, session: string | undefined, requestId: RequestId, reason: string | undefined): void {
    const cancel = GatewayCancel.safeParse({ caller: caller.digest, requestId, ...(session === undefined ? {} : { session }) });
    const why = reason ? ` (${JSON.stringify(reason.slice(0, 200))})` : '';
    if (!cancel.success) {
      this.log.warn(`ignored a cancellation by ${caller.identity.user} naming a request id no call can have${why}`);
      return;
    }
    this.log.log(`${caller.identity.user} cancelled request ${JSON.stringify(requestId)}${why}`);
    try {
      this.bus.emit(Subjects.gatewayCancel, cancel.data);
    } catch (error) {
      // A notification gets no answer, not even an error: the call then runs on, and says so in the log.
      this.log.error(`could not relay the cancellation of request ${JSON.stringify(requestId)}: ${(error as Error).message}`);
    }
  }

  /** `cancelled` runs when a call was cancelled, before its handler settles. */
  private mcpServer(
    caller: Caller,
    session: string | undefined,
    meta: RequestMeta,
    headerKey: string | string[] | undefined,
    cancelled: () => void,
    authorized: AuthorizedCall | undefined,
  ): Server {
    const { identity } = caller;
    const server = new Server(SERVER_INFO, { capabilities: CAPABILITIES, jsonSchemaValidator: SCHEMA_VALIDATOR });
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      try {
        const page = await this.toolCalls.list(identity, request.params?.cursor);
        return { tools: page.tools as Tool[], ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }) };
      } catch (error) {
        throw protocolError(error);
      }
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const key = idempotencyKeyOf(request.params, headerKey);
      // Authorized before the SDK saw it, the call was tracked (for cancellation) from then.
      const early = authorized?.requestId === extra.requestId ? authorized : undefined;
      const call = early?.call ?? new AbortController();
      // The SDK aborts its signal when the transport closes, i.e. when the client went away.
      const onClientGone = () => call.abort('the client closed its connection');
      extra.signal.addEventListener('abort', onClientGone, { once: true });
      const untrack = early ? () => undefined : this.calls.register({ caller: caller.digest, requestId: extra.requestId, ...(session === undefined ? {} : { session }) }, call);
      const args = [identity, meta, request.params.name, request.params.arguments ?? {}, key, call.signal, session] as const;
      const progressToken = request.params._meta?.progressToken;
      const progress =
        progressToken === undefined ? undefined : (update: HeldProgress) => extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...update } });
      try {
        // A task-augmented call answers its task (CreateTaskResult); policy refuses it for a tool that is never held.
        return request.params.task ? await this.tasks.create(...args, true, undefined, early?.early) : await this.toolCalls.call(...args, false, progress, early?.early);
      } catch (error) {
        if (error instanceof CallCancelled) cancelled();
        throw protocolError(error);
      } finally {
        untrack();
        extra.signal.removeEventListener('abort', onClientGone);
      }
    });
    this.serveTasks(server, identity, meta, cancelled);
    return server;
  }

  /** tasks/*: the caller's own tasks only, each answered by policy from the database (ToolTasks). */
  private serveTasks(server: Server, identity: Identity, meta: RequestMeta, cancelled: () => void): void {
    server.setRequestHandler(GetTaskRequestSchema, (request) => this.tasks.get(identity, meta, request.params.taskId));
    server.setRequestHandler(GetTaskPayloadRequestSchema, async (request, extra) => {
      try {
        return await this.tasks.result(identity, meta, request.params.taskId, extra.signal);
      } catch (error) {
        if (error instanceof CallCancelled) cancelled();
        throw error;
      }
    });
    server.setRequestHandler(ListTasksRequestSchema, (request) => this.tasks.list(identity, meta, request.params?.cursor));
    server.setRequestHandler(CancelTaskRequestSchema, (request) => this.tasks.cancel(identity, meta, request.params.taskId));
  }

  /**
   * The caller, or undefined when the request was answered here: 401 for a token that does
   * not authenticate, 429 for a source that sent too many of those, 503 when policy cannot
   * check it (each an attempt on the record, see BearerGate), in OAuth's words.
   */
  private async identify(req: Request, res: Response): Promise<Caller | undefined> {
    const identified = await this.gate.identify(req);
    if ('caller' in identified) return identified.caller;
    this.answerRefusal(req, res, identified.refusal);
    return undefined;
  }

  private answerRefusal(req: Request, res: Response, refusal: BearerRefusal): void {
    switch (refusal.kind) {
      case 'rate-limited':
        res.setHeader('Retry-After', String(refusal.retryAfterSeconds));
        res.status(429).json({ error: 'rate_limited', error_description: `too many failed bearer tokens from this address; retry in ${refusal.retryAfterSeconds} s` });
        return;
      case 'unauthenticated': {
        const description = refusal.error.message.replace(/["\\]/g, '');
        const metadata = resourceMetadataUrl(this.config.current, req.socket);
        res.setHeader(
          'WWW-Authenticate',
          refusal.missing
            ? `Bearer resource_metadata="${metadata}"`
            : `Bearer resource_metadata="${metadata}", error="invalid_token", error_description="${description}"`,
        );
        res.status(401).json({ error: 'invalid_token', error_description: refusal.error.message });
        return;
      }
      case 'unavailable':
        this.log.warn(`authentication unavailable: ${refusal.message}`);
        res.status(503).json({ error: 'temporarily_unavailable', error_description: 'the gateway cannot verify tokens right now; retry shortly' });
        return;
    }
  }

  /** A body too large (413, and the connection closed rather than drained), not JSON, or unreadable. */
  private async refuseBody(req: Request, res: Response, caller: Caller, error: unknown): Promise<void> {
    const limit = this.config.current.gateway.maxBodyBytes;
    const [status, code, message, answered, attempt]: [number, number, string, string, AttemptCode] =
      error instanceof BodyTooLargeError
        ? [413, McpErrorCode.InvalidRequest, `request body exceeds ${limit} bytes`, 'http:413', 'request-too-large']
        : error instanceof BodyNotJsonError
          ? [400, McpErrorCode.ParseError, 'Parse error: the request body is not valid JSON', `jsonrpc:${McpErrorCode.ParseError}`, 'malformed-request']
          : [400, McpErrorCode.InvalidRequest, 'could not read the request body', 'http:400', 'malformed-request'];
    await this.attempts.record({ actor: actorOf(caller.identity, metaOf(req)), code: attempt, reason: message, answered });
    if (status === 413) res.setHeader('Connection', 'close');
    if (!res.headersSent && !res.destroyed) jsonRpcError(res, status, code, message);
  }
}
