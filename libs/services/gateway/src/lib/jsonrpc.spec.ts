import { inspectBody } from './jsonrpc';

describe('sorting a POSTed JSON-RPC body before the MCP SDK sees it', () => {
  it('refuses a malformed envelope as Invalid Request (-32600), with id null and one line saying what is wrong', () => {
    const cases: [unknown, RegExp][] = [
      [{ hello: 'world' }, /jsonrpc must be "2\.0"/],
      [{ jsonrpc: '1.0', id: 1, method: 'ping' }, /jsonrpc must be "2\.0"/],
      [{ jsonrpc: '2.0', id: 1, method: 5 }, /method must be a string/],
      [{ jsonrpc: '2.0', id: 1.5, method: 'ping' }, /id must be a string or an integer/],
      [{ jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }, /params must be an object/],
      ['tools/list', /must be a JSON-RPC object/],
      [null, /must be a JSON-RPC object/],
      [[{ jsonrpc: '2.0', id: 1, method: 'ping' }], /batches are not supported/],
    ];
    for (const [body, reason] of cases) {
      const inspected = inspectBody(body);
      expect(inspected).toMatchObject({ kind: 'error', error: { status: 400, code: -32600, id: null } });
      if (inspected.kind === 'error') {
        expect(inspected.error.message).toMatch(/^Invalid Request: /);
        expect(inspected.error.message).toMatch(reason);
      }
    }
  });

  it('answers invalid params of a method this server has with -32602, naming the field, not dumping the schema', () => {
    const cases: [unknown, string][] = [
      [{ name: 'demo.get', arguments: 'user_id=1' }, 'Invalid params for tools/call: arguments: expected record, received string'],
      [{ name: 'demo.get', arguments: [1] }, 'Invalid params for tools/call: arguments: expected record, received array'],
      [{ arguments: {} }, 'Invalid params for tools/call: name: is required'],
    ];
    for (const [params, message] of cases) {
      expect(inspectBody({ jsonrpc: '2.0', id: 'c1', method: 'tools/call', params })).toEqual({ kind: 'error', error: { status: 200, code: -32602, message, id: 'c1' } });
    }
    expect(inspectBody({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { cursor: 7 } })).toMatchObject({ kind: 'error', error: { code: -32602, id: 2 } });
    expect(inspectBody({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {} })).toMatchObject({
      kind: 'error',
      error: { code: -32602, message: expect.stringMatching(/^Invalid params for initialize: \S+: is required$/) },
    });
  });

  it('passes valid requests, other methods (the SDK answers -32601) and other notifications to the SDK', () => {
    const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'demo.get', arguments: { user_id: 1 } } };
    expect(inspectBody(call)).toEqual({ kind: 'message', message: call, request: { id: 3, method: 'tools/call' } });
    expect(inspectBody({ jsonrpc: '2.0', id: 4, method: 'resources/list' })).toMatchObject({ kind: 'message', request: { method: 'resources/list' } });
    expect(inspectBody({ jsonrpc: '2.0', method: 'notifications/initialized' })).toMatchObject({ kind: 'message' });
    expect(inspectBody({ jsonrpc: '2.0', id: 5, result: {} })).toMatchObject({ kind: 'message' });
  });

  it('takes notifications/cancelled for the gateway, and ignores one that names no request', () => {
    expect(inspectBody({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'stop' } })).toEqual({ kind: 'cancel', requestId: 7, reason: 'stop' });
    expect(inspectBody({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'a' } })).toEqual({ kind: 'cancel', requestId: 'a' });
    expect(inspectBody({ jsonrpc: '2.0', method: 'notifications/cancelled', params: {} })).toEqual({ kind: 'ignored' });
    expect(inspectBody({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: { id: 1 } } })).toEqual({ kind: 'ignored' });
  });
});
