import { STATUS_CODES } from 'node:http';
import { ERROR_EDGES, ErrorCode, JSONRPC_INVALID_PARAMS, JSONRPC_METHOD_NOT_FOUND } from './errors';

describe('ERROR_EDGES', () => {
  it('has exactly one row per error code', () => {
    expect(Object.keys(ERROR_EDGES).sort()).toEqual([...ErrorCode.options].sort());
  });

  it('answers every code with an error status HTTP knows (499, a cancelled call, is the one nginx convention)', () => {
    for (const [code, { http }] of Object.entries(ERROR_EDGES)) {
      expect([code, http >= 400 && http <= 599]).toEqual([code, true]);
      if (http !== 499) expect([code, STATUS_CODES[http]]).toEqual([code, expect.any(String)]);
    }
    expect(ERROR_EDGES.CANCELLED.http).toBe(499);
  });

  it('keeps the statuses clients already rely on', () => {
    expect(ERROR_EDGES.UNAUTHENTICATED.http).toBe(401);
    expect(ERROR_EDGES.FORBIDDEN.http).toBe(403);
    expect(ERROR_EDGES.BAD_REQUEST.http).toBe(400);
    expect(ERROR_EDGES.SESSION_NOT_FOUND.http).toBe(404);
    expect(ERROR_EDGES.INTERNAL.http).toBe(500);
    for (const code of ['SERVICE_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'CATALOG_UNAVAILABLE', 'MASKING_UNAVAILABLE', 'TARGET_UNAVAILABLE', 'TIMEOUT'] as const) {
      expect([code, ERROR_EDGES[code].http]).toEqual([code, 503]);
    }
  });

  it('answers a protocol error only for a request MCP itself calls wrong: an unknown tool, a malformed request, a task of a tool without task support', () => {
    const protocol = ErrorCode.options.filter((code) => ERROR_EDGES[code].mcp !== 'result');
    expect(protocol.sort()).toEqual(['BAD_REQUEST', 'TASK_NOT_SUPPORTED', 'UNKNOWN_TOOL']);
    for (const code of ['BAD_REQUEST', 'UNKNOWN_TOOL'] as const) expect(ERROR_EDGES[code].mcp).toBe(JSONRPC_INVALID_PARAMS);
    // MCP tasks: "Servers SHOULD return a -32601 (Method not found) error" for such a call.
    expect(ERROR_EDGES.TASK_NOT_SUPPORTED.mcp).toBe(JSONRPC_METHOD_NOT_FOUND);
  });

  it('exits 2, as for a usage error, only for input the operator must change', () => {
    const usage = ErrorCode.options.filter((code) => ERROR_EDGES[code].exit === 2);
    expect(usage.sort()).toEqual(['BAD_REQUEST', 'INVALID_PARAMS', 'PARAMS_TOO_LARGE', 'TASK_NOT_SUPPORTED']);
    for (const code of ErrorCode.options) expect([1, 2]).toContain(ERROR_EDGES[code].exit);
  });
});
