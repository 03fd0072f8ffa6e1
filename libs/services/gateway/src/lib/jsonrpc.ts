import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  CancelledNotificationSchema,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  ErrorCode as McpErrorCode,
  InitializeRequestSchema,
  JSONRPCMessageSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** A JSON-RPC error the gateway answers itself, before the MCP SDK sees the message. */
export interface EdgeError {
  status: number;
  code: number;
  message: string;
  id: RequestId | null;
}

/** What one POSTed body is, as far as the gateway must know before handing it to the SDK. */
export type InspectedBody =
  | { kind: 'error'; error: EdgeError }
  /** `notifications/cancelled`: handled by the gateway, which knows its calls across requests and replicas. */
  | { kind: 'cancel'; requestId: RequestId; reason?: string }
  /** A cancellation that names no request, or not validly: ignored, as the MCP spec asks. */
  | { kind: 'ignored' }
  | { kind: 'message'; message: JSONRPCMessage; request?: { id: RequestId; method: string } };

/**
 * The requests this server answers, with the schemas its handlers parse them with. The SDK
 * parses params inside the handler and reports a mismatch as -32603 with the whole validation
 * dump; checking them here first with the same schemas answers -32602 with one line instead.
 */
const PARAMS_SCHEMAS: Record<string, { safeParse(value: unknown): { success: true } | { success: false; error: { issues: readonly Issue[] } } }> = {
  initialize: InitializeRequestSchema,
  ping: PingRequestSchema,
  'tools/list': ListToolsRequestSchema,
  'tools/call': CallToolRequestSchema,
  'tasks/get': GetTaskRequestSchema,
  'tasks/result': GetTaskPayloadRequestSchema,
  'tasks/list': ListTasksRequestSchema,
  'tasks/cancel': CancelTaskRequestSchema,
};

interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

const MAX_MESSAGE = 150;

function short(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

/** One line naming the first problem: where (`arguments`, `name`) and what, never the schema. */
function describeIssue(issue: Issue | undefined): string {
  if (!issue) return 'invalid';
  const path = issue.path.filter((part) => part !== 'params').map(String).join('.');
  // zod phrases a missing field as "expected string, received undefined".
  const message = /received undefined$/.test(issue.message) ? 'is required' : issue.message.replace(/^Invalid input: /, '');
  return `${path || '(params)'}: ${message}`;
}

function invalidRequest(message: string): InspectedBody {
  // JSON-RPC 2.0 §5: when the request is invalid its id cannot be trusted, so it is null.
  return { kind: 'error', error: { status: 400, code: McpErrorCode.InvalidRequest, message: short(`Invalid Request: ${message}`), id: null } };
}

function envelopeProblem(body: object): string {
  const record = body as Record<string, unknown>;
  if (record['jsonrpc'] !== '2.0') return 'jsonrpc must be "2.0"';
  if ('method' in record && typeof record['method'] !== 'string') return 'method must be a string';
  if ('id' in record && typeof record['id'] !== 'string' && !Number.isInteger(record['id'])) return 'id must be a string or an integer';
  if ('params' in record && (typeof record['params'] !== 'object' || record['params'] === null || Array.isArray(record['params']))) {
    return 'params must be an object';
  }
  return 'not a JSON-RPC request, notification or response';
}

/**
 * Sorts a POSTed body: a malformed envelope is -32600 (Invalid Request), invalid params of a
 * method this server answers are -32602 (Invalid params), a cancellation is the gateway's own
 * business, and everything else goes to the MCP SDK for its standard answers (`ping`,
 * -32601 for methods and capabilities the server does not have).
 *
 * Batches are refused: MCP removed JSON-RPC batching in its 2025-06-18 revision, and a batch
 * holding a cancelled call could not be answered — the SDK's JSON answer waits for every
 * response in it, and a cancelled request gets none.
 */
export function inspectBody(body: unknown): InspectedBody {
  if (Array.isArray(body)) return invalidRequest('JSON-RPC batches are not supported (MCP 2025-06-18 removed them); send one message per POST');
  if (typeof body !== 'object' || body === null) return invalidRequest('the body must be a JSON-RPC object');
  const parsed = JSONRPCMessageSchema.safeParse(body);
  if (!parsed.success) return invalidRequest(envelopeProblem(body));
  const message = parsed.data;
  if (!('method' in message)) return { kind: 'message', message };
  if (!('id' in message)) {
    if (message.method !== CancelledNotificationSchema.shape.method.value) return { kind: 'message', message };
    const cancel = CancelledNotificationSchema.safeParse(message);
    if (!cancel.success || cancel.data.params.requestId === undefined) return { kind: 'ignored' };
    return { kind: 'cancel', requestId: cancel.data.params.requestId, ...(cancel.data.params.reason === undefined ? {} : { reason: cancel.data.params.reason }) };
  }
  const schema = PARAMS_SCHEMAS[message.method];
  const checked = schema?.safeParse(message);
  if (checked && !checked.success) {
    return {
      kind: 'error',
      error: { status: 200, code: McpErrorCode.InvalidParams, message: short(`Invalid params for ${message.method}: ${describeIssue(checked.error.issues[0])}`), id: message.id },
    };
  }
  return { kind: 'message', message, request: { id: message.id, method: message.method } };
}
