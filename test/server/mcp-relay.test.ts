import { createMcpHandler } from '@modelcontextprotocol/server';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { CallContext, Gateway } from '../../src/gateway/index.js';
import { createMcpServer } from '../../src/server/mcp.js';

/**
 * The MCP server factory relays what the gateway's upstream call reports: progress under the
 * caller's progressToken (the 2026-07-28 response becomes an SSE stream), and an upstream's -32021
 * as that protocol error with HTTP 400. The Gateway is replaced by its two methods the factory uses;
 * what the real gateway hands over is covered by test/catalog/upstream-relay.test.ts and the
 * conformance suite (test/conformance/server.test.ts).
 */

const contexts: CallContext[] = [];
const gateway = {
  listTools: async () => [],
  callTool: async (ctx: CallContext, name: string) => {
    contexts.push(ctx);
    if (name === 'needs_sampling') {
      throw new GatewayError('upstream_mcp_error', 'upstream MCP server "u" needs the client capability sampling, which the gateway does not relay', {
        details: { requiredCapabilities: { sampling: {} } },
      });
    }
    if (name === 'broken') throw new GatewayError('upstream_mcp_error', 'upstream MCP server "u" failed: boom');
    for (const progress of [0, 50, 100]) ctx.onProgress?.({ progress, total: 100, message: `step ${progress}` });
    return { content: [{ type: 'text', text: 'done' }] };
  },
} as unknown as Gateway;

const handler = createMcpHandler(() => createMcpServer(gateway));
afterAll(() => handler.close());

const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'relay-test', version: '1' },
};

async function call(name: string, meta: Record<string, unknown> = {}) {
  const res = await handler.fetch(
    new Request('http://gw.test/mcp', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': '2026-07-28',
        'Mcp-Method': 'tools/call',
        'Mcp-Name': name,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name, arguments: {}, _meta: { ...ENVELOPE, ...meta } } }),
    }),
  );
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const messages = type.startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data:') && l.slice(5).trim())
        .map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  return { status: res.status, sse: type.startsWith('text/event-stream'), messages };
}

describe('MCP server factory: relayed upstream behaviour (2026-07-28)', () => {
  it.each([
    ['with a progressToken: three notifications/progress under the caller token, then the result, over SSE', { progressToken: 'p-1' }, true, 3],
    ['without one: no progress callback, one JSON result', {}, false, 0],
  ])('%s', async (_, meta, sse, notifications) => {
    contexts.length = 0;
    const r = await call('progress', meta);
    expect(r.status).toBe(200);
    expect(r.sse).toBe(sse);
    expect(contexts[0]!.onProgress === undefined).toBe(!sse);
    const progress = r.messages.filter((m) => m.method === 'notifications/progress');
    expect(progress.map((m) => m.params)).toEqual(
      [0, 50, 100].slice(0, notifications).map((p) => ({ progressToken: 'p-1', progress: p, total: 100, message: `step ${p}` })),
    );
    expect(r.messages.at(-1)).toMatchObject({ id: 9, result: { content: [{ type: 'text', text: 'done' }] } });
  });

  it.each([
    [
      'an upstream -32021',
      'needs_sampling',
      400,
      {
        id: 9,
        error: {
          code: -32021,
          message: 'upstream MCP server "u" needs the client capability sampling, which the gateway does not relay',
          data: { requiredCapabilities: { sampling: {} } },
        },
      },
    ],
    ['any other upstream failure stays a thrown error, not -32021', 'broken', 200, { id: 9, error: { code: -32603 } }],
  ])('%s -> HTTP %i', async (_, name, status, body) => {
    const r = await call(name);
    expect(r.status).toBe(status);
    expect(r.messages[0]).toMatchObject(body);
  });
});
