import { describe, expect, it } from 'vitest';
import type { AuthInfo, JSONRPCMessage } from '@modelcontextprotocol/server';
import { SessionTransport } from '../../../src/server/http/session-transport.js';

/** The in-process transport of a 2025 session's warm server, on its own: what goes in, what comes back. */
const extra = { authInfo: { token: 't', clientId: 'c', scopes: [] } as AuthInfo, request: new Request('http://127.0.0.1/mcp', { method: 'POST' }) };

describe('SessionTransport', () => {
  it('a request resolves with the response of its id; notifications and server requests on the way are dropped', async () => {
    const t = new SessionTransport();
    const seen: Array<[JSONRPCMessage, unknown]> = [];
    t.onmessage = (m, x) => void seen.push([m, x]);
    const answer = t.request({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, extra);
    expect(t.busy(1)).toBe(true);
    await t.send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } });
    await t.send({ jsonrpc: '2.0', id: 'srv-1', method: 'roots/list' });
    await t.send({ jsonrpc: '2.0', id: 2, result: {} }); // nobody asked for id 2
    await t.send({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
    expect(await answer).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
    expect(t.busy(1)).toBe(false);
    expect(seen).toEqual([[{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, extra]]);
  });

  it('close answers every request in progress with an error, and later requests too', async () => {
    const t = new SessionTransport();
    let closed = 0;
    t.onmessage = () => {};
    t.onclose = () => void closed++;
    const a = t.request({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'x' } }, extra);
    const b = t.request({ jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'y' } }, extra);
    await t.close();
    await t.close();
    const error = { code: -32000, message: 'Session closed while the request was in progress' };
    expect(await Promise.all([a, b])).toEqual([
      { jsonrpc: '2.0', id: 'a', error },
      { jsonrpc: '2.0', id: 'b', error },
    ]);
    expect(await t.request({ jsonrpc: '2.0', id: 'c', method: 'tools/list' }, extra)).toEqual({ jsonrpc: '2.0', id: 'c', error });
    expect(closed).toBe(1);
  });
});
