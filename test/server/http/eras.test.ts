import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/observability/index.js';
import type { UserSession } from '../../../src/store/index.js';
import { text } from '../../../tools/testkit/env.js';
import { ACCEPT, AGENT_A, initializeBody, openSession, post, rpcMessage, startHarness, type Harness } from './harness.js';

/**
 * Both protocol eras on one /mcp: 2026-07-28 (the SDK v2 client; raw requests with the standard
 * headers) and the 2025 revisions (the SDK v1 client; raw sessions). Exact statuses and JSON-RPC codes.
 */

let h: Harness;
let alice: UserSession;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.signIn('alice');
});
afterAll(() => h?.close());

const MODERN = '2026-07-28';
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw-modern-client', version: '1.0.0' },
};
const BAD_ARGS = { name: 'calendar_create_meeting', arguments: { title: 'x', start: 'now', durationMinutes: 'long', attendees: [] } };
const BAD_ARGS_MESSAGE = 'invalid arguments for tool "calendar_create_meeting": /durationMinutes must be integer';

/** A 2026-07-28 request as the SDK v2 client sends it: envelope in _meta, and the standard headers. */
function modern(
  id: number,
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): { body: unknown; headers: Record<string, string> } {
  const name: Record<string, string> = typeof params.name === 'string' ? { 'Mcp-Name': params.name } : {};
  return {
    body: { jsonrpc: '2.0', id, method, params: { ...params, _meta: ENVELOPE } },
    headers: { 'MCP-Protocol-Version': MODERN, 'Mcp-Method': method, ...name, ...headers },
  };
}

async function v2Client(token: string, opts: ConstructorParameters<typeof ClientV2>[1] = {}): Promise<ClientV2> {
  const client = new ClientV2({ name: 'v2-test-agent', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' }, ...opts });
  await client.connect(new TransportV2(new URL(h.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

describe('2026-07-28 through the SDK v2 client', () => {
  it('negotiates the modern era, lists and calls tools; audited under the OAuth client, not clientInfo', async () => {
    const client = await v2Client(await h.token(alice, AGENT_A));
    try {
      expect(client.getProtocolEra()).toBe('modern');
      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('calendar_free_slots');
      h.sink.records = [];
      const result = (await client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-05' } })) as CallToolResult;
      expect(result.isError ?? false).toBe(false);
      expect(text(result)).toMatch(/slot|09:00|free/i);
      await h.gateway.flush();
      const who = { user: { iss: h.env.demo.urls.idp, sub: 'u-alice' }, agent: { clientId: AGENT_A.clientId, name: AGENT_A.clientName } };
      expect(h.sink.records.map((r) => r.phase)).toEqual(['decision', 'outcome']);
      expect(h.sink.records[0]).toMatchObject({ ...who, decision: 'allow', tool: 'calendar_free_slots' });
      expect(JSON.stringify(h.sink.records)).not.toContain('v2-test-agent');
      // No session on this era: nothing was recorded for it.
      expect(h.http.sessions.size).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('invalid arguments are a tool error (SEP-1303); an unknown tool is a -32602 without a doubled prefix', async () => {
    const client = await v2Client(await h.token(alice));
    try {
      const bad = (await client.callTool(BAD_ARGS)) as CallToolResult;
      expect(bad).toMatchObject({ isError: true, content: [{ type: 'text', text: `[invalid_arguments] ${BAD_ARGS_MESSAGE}` }] });
      await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toMatchObject({
        code: -32602,
        message: 'unknown tool "no_such_tool"; call tools/list for the tools this gateway offers',
      });
    } finally {
      await client.close();
    }
  });

  it('a config change reaches the client on its subscriptions/listen stream', async () => {
    let changed!: () => void;
    const notified = new Promise<void>((r) => (changed = r));
    const client = await v2Client(await h.token(alice), { listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => changed() } } });
    try {
      await expect.poll(() => h.http.mcp.streams.size, { timeout: 5_000 }).toBe(1);
      h.env.writeConfig((c) => {
        c.server = h.config.current.config.server as never;
        c.tools![0]!.description = 'changed for the 2026 listen test';
      });
      h.config.reload();
      await notified;
    } finally {
      await client.close();
    }
    await expect.poll(() => h.http.mcp.streams.size, { timeout: 5_000 }).toBe(0);
  });
});

describe('2026-07-28 on the wire: the standard headers and the era rules', () => {
  it('tools/list carries the caching hints', async () => {
    const m = modern(1, 'tools/list');
    const res = await post(h.mcpUrl, m.body, { ...m.headers, Authorization: `Bearer ${await h.token(alice)}` });
    expect(res.status).toBe(200);
    const msg = await rpcMessage(res);
    expect(msg.result).toMatchObject({ ttlMs: 60_000, cacheScope: 'private' });
    expect(res.headers.get('mcp-session-id')).toBeNull();
  });

  it.each([
    ['MCP-Protocol-Version differs from the envelope', { 'MCP-Protocol-Version': '2025-11-25' }, 400, -32020],
    ['Mcp-Method differs from the body', { 'Mcp-Method': 'tools/list' }, 400, -32020],
    ['Mcp-Name differs from params.name', { 'Mcp-Name': 'chat_post_message' }, 400, -32020],
  ])('%s -> 400 / -32020, nothing called', async (_, override, status, code) => {
    const m = modern(2, 'tools/call', { name: 'calendar_free_slots', arguments: { date: '2026-12-05' } }, override);
    const before = { audit: h.sink.records.length, api: h.env.demo.stats.apiCalls.calendar };
    const res = await post(h.mcpUrl, m.body, { ...m.headers, Authorization: `Bearer ${await h.token(alice)}` });
    expect(res.status).toBe(status);
    expect((await res.json()).error.code).toBe(code);
    expect({ audit: h.sink.records.length, api: h.env.demo.stats.apiCalls.calendar }).toEqual(before);
  });

  it('a missing Mcp-Method -> 400 / -32020', async () => {
    const m = modern(3, 'tools/list');
    const { 'Mcp-Method': _, ...headers } = m.headers;
    const res = await post(h.mcpUrl, m.body, { ...headers, Authorization: `Bearer ${await h.token(alice)}` });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe(-32020);
  });

  it('an unsupported revision in the envelope -> 400 / -32022 naming the supported ones', async () => {
    const body = { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } } };
    const res = await post(h.mcpUrl, body, {
      'MCP-Protocol-Version': '2027-01-01',
      'Mcp-Method': 'tools/list',
      Authorization: `Bearer ${await h.token(alice)}`,
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: -32022, data: { supported: [MODERN], requested: '2027-01-01' } });
  });

  it.each(['GET', 'DELETE'])('%s without a 2025 session -> 405', async (method) => {
    const res = await fetch(h.mcpUrl, {
      method,
      headers: { Accept: 'text/event-stream', 'MCP-Protocol-Version': MODERN, Authorization: `Bearer ${await h.token(alice)}` },
    });
    expect(res.status).toBe(405);
    expect((await res.json()).error.code).toBe(-32000);
  });

  it('server/discover names both eras of the gateway', async () => {
    const m = modern(5, 'server/discover');
    const res = await post(h.mcpUrl, m.body, { ...m.headers, Authorization: `Bearer ${await h.token(alice)}` });
    expect(res.status).toBe(200);
    const msg = await rpcMessage(res);
    expect(msg.result.supportedVersions).toContain(MODERN);
    expect(msg.result.capabilities).toMatchObject({ tools: { listChanged: true } });
  });

  it('subscriptions/listen: acknowledged, then list_changed when the config changes', async () => {
    const body = { jsonrpc: '2.0', id: 6, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: ENVELOPE } };
    const controller = new AbortController();
    const res = await fetch(h.mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        'Content-Type': 'application/json',
        Accept: ACCEPT,
        'MCP-Protocol-Version': MODERN,
        'Mcp-Method': 'subscriptions/listen',
        Authorization: `Bearer ${await h.token(alice)}`,
      },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = sseFrames(res.body!);
    expect((await frames.next()).method).toBe('notifications/subscriptions/acknowledged');
    h.env.writeConfig((c) => {
      c.server = h.config.current.config.server as never;
      c.tools![0]!.description = 'changed for the raw listen test';
    });
    h.config.reload();
    expect(await frames.next()).toMatchObject({ method: 'notifications/tools/list_changed' });
    controller.abort();
  });
});

describe('2025 revisions: the session rules', () => {
  it('a request whose MCP-Protocol-Version differs from the negotiated one -> 400, even a supported version', async () => {
    const s = await openSession(h.mcpUrl, await h.token(alice), '2025-06-18');
    const res = await post(h.mcpUrl, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...s.headers, 'MCP-Protocol-Version': '2025-11-25' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: 'Bad Request: MCP-Protocol-Version 2025-11-25 differs from the version this session negotiated (2025-06-18)' },
    });
    // Without the header, the negotiated version applies.
    const { 'MCP-Protocol-Version': _, ...noHeader } = s.headers;
    expect((await post(h.mcpUrl, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, noHeader)).status).toBe(200);
  });

  const batch = [
    { jsonrpc: '2.0', id: 10, method: 'tools/list' },
    { jsonrpc: '2.0', id: 11, method: 'ping' },
  ];
  it.each(['2025-06-18', '2025-11-25'])('a JSON-RPC batch on a %s session -> 400 / -32600', async (version) => {
    const s = await openSession(h.mcpUrl, await h.token(alice), version);
    const res = await post(h.mcpUrl, batch, s.headers);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: `Invalid Request: JSON-RPC batches are not supported in protocol version ${version}` },
    });
  });

  it('a JSON-RPC batch on a 2025-03-26 session is answered', async () => {
    const s = await openSession(h.mcpUrl, await h.token(alice), '2025-03-26');
    const res = await post(h.mcpUrl, batch, s.headers);
    expect(res.status).toBe(200);
    const answers = (await res.json()) as Array<{ id: number }>;
    expect(answers.map((a) => a.id).sort()).toEqual([10, 11]);
  });

  it('initialize on an open session -> 400 / -32600', async () => {
    const s = await openSession(h.mcpUrl, await h.token(alice));
    const res = await post(h.mcpUrl, initializeBody('2025-11-25', 7), s.headers);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe(-32600);
  });

  it.each([
    ['2025-06-18', { error: { code: -32602, message: BAD_ARGS_MESSAGE } }],
    ['2025-11-25', { result: { isError: true, content: [{ type: 'text', text: `[invalid_arguments] ${BAD_ARGS_MESSAGE}` }] } }],
  ])('invalid arguments on a %s session -> %j', async (version, expected) => {
    const s = await openSession(h.mcpUrl, await h.token(alice), version);
    const res = await post(h.mcpUrl, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: BAD_ARGS }, s.headers);
    expect(res.status).toBe(200);
    expect(await rpcMessage(res)).toEqual({ jsonrpc: '2.0', id: 8, ...expected });
  });

  it('malformed params -> -32602 naming the field (not a -32603 or a zod dump)', async () => {
    const s = await openSession(h.mcpUrl, await h.token(alice));
    const res = await post(
      h.mcpUrl,
      { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'calendar_free_slots', arguments: 'date=2026-12-05' } },
      s.headers,
    );
    expect(await rpcMessage(res)).toEqual({
      jsonrpc: '2.0',
      id: 9,
      error: { code: -32602, message: 'Invalid params: "arguments" must be an object (got a string)' },
    });
  });

  it('the SDK v1 client sees a single "MCP error -32602:" prefix', async () => {
    const transport = new TransportV1(new URL(h.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${await h.token(alice)}` } } });
    const client = new ClientV1({ name: 'v1-test-agent', version: '1.0.0' });
    await client.connect(transport);
    try {
      await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(
        /^MCP error -32602: unknown tool "no_such_tool"; call tools\/list for the tools this gateway offers$/,
      );
    } finally {
      await client.close();
    }
  });

  it.each([
    ['2025-11-25', (tag: string) => `id: ${tag}.0\nretry: 3000\ndata: \n\n`],
    ['2025-06-18', () => 'retry: 3000\n\n'],
  ])('the GET stream of a %s session opens with the SEP-1699 priming event, then carries list_changed', async (version, priming) => {
    const s = await openSession(h.mcpUrl, await h.token(alice), version);
    const controller = new AbortController();
    const res = await fetch(h.mcpUrl, { headers: { ...s.headers, Accept: 'text/event-stream' }, signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe(priming(h.config.current.hash));
    h.env.writeConfig((c) => {
      c.server = h.config.current.config.server as never;
      c.tools![0]!.description = `changed for the ${version} GET test`;
    });
    h.config.reload();
    const next = await readUntil(reader, 'list_changed');
    expect(next).toMatch(
      new RegExp(
        `^id: ${h.config.current.hash.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|^id: [^\\n]+\\nevent: message\\ndata: \\{"jsonrpc":"2.0","method":"notifications/tools/list_changed"\\}\\n\\n$`,
      ),
    );
    controller.abort();
  });

  it('a GET stream reopened with a Last-Event-ID from an older tools revision is told about the change at once', async () => {
    const s = await openSession(h.mcpUrl, await h.token(alice));
    const controller = new AbortController();
    const res = await fetch(h.mcpUrl, {
      headers: { ...s.headers, Accept: 'text/event-stream', 'Last-Event-ID': 'an-older-revision.4' },
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const got = await readUntil(reader, 'list_changed');
    expect(got).toContain('data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}');
    controller.abort();
  });
});

describe('Host (DNS rebinding) on /mcp and /metrics', () => {
  it.each([
    ['/mcp', 'evil.example', 403],
    ['/mcp', 'evil.example:443', 403],
    ['/mcp', 'localhost', 403], // not publicUrl's host (127.0.0.1): clients must use the exact host
    ['/mcp', 'publicUrl', 401], // reaches the bearer check
    ['/metrics', 'evil.example', 403],
    ['/metrics', 'rebind.attacker.example:9090', 403],
    ['/metrics', 'publicUrl', 200],
    ['/metrics', '127.0.0.1:9090', 200], // scrapers by address: an IP literal cannot come from a rebinding page
    ['/metrics', 'localhost:9090', 200],
  ])('%s with Host %s -> %i', async (path, host, status) => {
    const app = h.extraApp({ metrics: { metrics: new Metrics(), tokens: () => ['scrape-token'] } });
    const hostHeader = host === 'publicUrl' ? new URL(h.origin).host : host;
    const headers = {
      Host: hostHeader,
      'Content-Type': 'application/json',
      Accept: ACCEPT,
      ...(path === '/metrics' ? { Authorization: 'Bearer scrape-token' } : {}),
    };
    const res = await app.app.fetch(
      new Request(`${h.origin}${path}`, { method: path === '/mcp' ? 'POST' : 'GET', headers, body: path === '/mcp' ? JSON.stringify(initializeBody()) : null }),
    );
    expect(res.status).toBe(status);
    if (status === 403) {
      const hostname = new URL(`http://${hostHeader}`).hostname;
      expect(await res.json()).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: `Forbidden: Invalid Host: ${hostname}; clients must use the host of server.publicUrl (or one in server.allowedHosts)` },
      });
    }
  });
});

describe('sign-in hints over HTTP', () => {
  it('an IdP that no longer accepts the sign-in: the tool error tells the remote user to reconnect, never to run the CLI', async () => {
    const bob = await h.signIn('bob');
    const s = await openSession(h.mcpUrl, await h.token(bob));
    h.env.demo.control.revokeUserSessions('bob');
    const res = await post(
      h.mcpUrl,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chat_post_message', arguments: { channel: 'general', text: 'hi' } } },
      s.headers,
    );
    const msg = await rpcMessage(res);
    expect(msg.result.isError).toBe(true);
    const shown = msg.result.content[0].text as string;
    expect(shown).toMatch(/reconnect the MCP client to sign in again/);
    expect(shown).not.toMatch(/xaa-gateway login/);
  });
});

/** Reads an SSE body until `marker` shows up (or the stream ends: the caller's assertion then fails). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, marker: string): Promise<string> {
  const decoder = new TextDecoder();
  let got = '';
  while (!got.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    got += decoder.decode(value, { stream: true });
  }
  return got;
}

/** JSON-RPC messages of an SSE body, one at a time. */
function sseFrames(body: ReadableStream<Uint8Array>): { next(): Promise<any> } {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('');
          if (data) return JSON.parse(data);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += decoder.decode(value);
      }
    },
  };
}
