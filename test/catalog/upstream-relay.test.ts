import { randomUUID } from 'node:crypto';
import { createMcpHandler, inputRequired, McpServer } from '@modelcontextprotocol/server';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport as TransportV1 } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BrokeredToken } from '../../src/broker/index.js';
import {
  callUpstreamTool,
  listUpstreamTools,
  requiredCapabilitiesOf,
  UpstreamConnections,
  type UpstreamAuth,
  type UpstreamProgress,
} from '../../src/catalog/upstream.js';
import type { UpstreamConfig } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';

/**
 * What the gateway relays between an agent and an upstream MCP server of either era: progress
 * (MCP "Progress"), a -32021 MissingRequiredClientCapability refusal (the gateway declares no client
 * capabilities, since it cannot relay input requests), and tools/list_changed (2026-07-28
 * subscriptions/listen held by the list connection).
 */

const URL_2026 = 'https://modern.upstream.test/mcp';
const URL_2025 = 'https://legacy.upstream.test/mcp';
const upstream = (name: string, url: string): UpstreamConfig =>
  ({ name, url, prefix: `${name}_`, scopes: ['read'], enabled: true, deny: [], timeoutMs: 5_000 }) as unknown as UpstreamConfig;
const token = (accessToken: string): BrokeredToken => ({
  accessToken,
  tokenType: 'Bearer',
  expiresAt: Date.now() + 60_000,
  scopesGranted: ['read'],
  idJagJti: randomUUID(),
  fingerprint: `fp-${accessToken}`,
  fromCache: false,
});
const auth: UpstreamAuth = { token: token('t1'), remint: async () => token('t2') };

interface Seen {
  /** progressToken the upstream's progress tool saw per call ('none' when absent). */
  progressTokens: string[];
  methods: string[];
}

function modernUpstream(seen: Seen) {
  let extra = false;
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'modern', version: '1' }, { capabilities: { tools: { listChanged: true } } });
    s.registerTool('progress', { inputSchema: z.object({}) }, async (_args, c) => {
      const pt = c.mcpReq._meta?.progressToken;
      seen.progressTokens.push(pt === undefined ? 'none' : 'some');
      if (pt !== undefined)
        for (const progress of [0, 50, 100])
          await c.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: pt, progress, total: 100, message: `step ${progress}` } });
      return { content: [{ type: 'text', text: 'done' }] };
    });
    s.registerTool('needs_sampling', { inputSchema: z.object({}) }, (async () =>
      inputRequired({
        inputRequests: { a: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 4 }) },
      })) as never);
    if (extra) s.registerTool('extra', { inputSchema: z.object({}) }, async () => ({ content: [] }));
    return s;
  });
  const fetch = async (req: Request): Promise<Response> => {
    const body = req.method === 'POST' ? await req.clone().json() : undefined;
    if (body?.method) seen.methods.push(body.method);
    return handler.fetch(req);
  };
  return {
    fetch,
    addTool: () => {
      extra = true;
      handler.notify.toolsChanged();
    },
    close: () => handler.close(),
  };
}

function legacyUpstream(seen: Seen) {
  const sessions = new Map<string, TransportV1>();
  return async (req: Request): Promise<Response> => {
    const body = req.method === 'POST' ? await req.clone().json() : undefined;
    if (body?.method) seen.methods.push(body.method);
    const sid = req.headers.get('mcp-session-id');
    if (sid) return sessions.get(sid)!.handleRequest(req, { parsedBody: body });
    const transport = new TransportV1({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, transport) });
    const server = new McpServerV1({ name: 'legacy', version: '1' });
    server.registerTool('progress', {}, async (extra) => {
      const pt = extra._meta?.progressToken;
      seen.progressTokens.push(pt === undefined ? 'none' : 'some');
      if (pt !== undefined)
        for (const progress of [0, 50, 100])
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: pt, progress, total: 100, message: `step ${progress}` } });
      return { content: [{ type: 'text', text: 'done' }] };
    });
    await server.connect(transport);
    return transport.handleRequest(req, { parsedBody: body });
  };
}

function setup(opts: { onToolsChanged?: (u: UpstreamConfig) => void } = {}) {
  const seen: Seen = { progressTokens: [], methods: [] };
  const modern = modernUpstream(seen);
  const legacy = legacyUpstream(seen);
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const req = new Request(input, init);
    return new URL(req.url).origin === new URL(URL_2026).origin ? modern.fetch(req) : legacy(req);
  }) as typeof fetch;
  return { seen, modern, connections: new UpstreamConnections({ fetch: fetchImpl, now: Date.now }, opts) };
}

describe('relayed between agent and upstream', () => {
  it.each([
    [
      '2026-07-28',
      URL_2026,
      true,
      ['some'],
      [
        { progress: 0, total: 100, message: 'step 0' },
        { progress: 50, total: 100, message: 'step 50' },
        { progress: 100, total: 100, message: 'step 100' },
      ],
    ],
    ['2026-07-28', URL_2026, false, ['none'], []],
    [
      '2025-11-25',
      URL_2025,
      true,
      ['some'],
      [
        { progress: 0, total: 100, message: 'step 0' },
        { progress: 50, total: 100, message: 'step 50' },
        { progress: 100, total: 100, message: 'step 100' },
      ],
    ],
    ['2025-11-25', URL_2025, false, ['none'], []],
  ] as const)('%s upstream, caller asked for progress: %s -> upstream saw a token %j, progress relayed %j', async (_era, url, asked, tokens, relayed) => {
    const s = setup();
    const got: UpstreamProgress[] = [];
    const result = await callUpstreamTool(s.connections, upstream('u', url), auth, 'progress', {}, asked ? { onProgress: (p) => got.push(p) } : {});
    expect(result.content).toEqual([{ type: 'text', text: 'done' }]);
    expect(s.seen.progressTokens).toEqual(tokens);
    expect(got).toEqual(relayed);
    await s.connections.closeAll();
    await s.modern.close();
  });

  it('an upstream tool needing sampling: -32021 relayed with its requiredCapabilities, the connection kept', async () => {
    const s = setup();
    const u = upstream('u', URL_2026);
    const err = await callUpstreamTool(s.connections, u, auth, 'needs_sampling', {}).catch((e: unknown) => e);
    expect(isGatewayError(err, 'upstream_mcp_error')).toBe(true);
    expect(requiredCapabilitiesOf(err)).toEqual({ sampling: {} });
    expect((err as Error).message).toBe('upstream MCP server "u" needs the client capability sampling, which the gateway does not relay');
    // The same connection serves the next call: one discover probe in all.
    await callUpstreamTool(s.connections, u, auth, 'progress', {});
    expect(s.seen.methods.filter((m) => m === 'server/discover')).toHaveLength(1);
    // Other upstream failures carry no requiredCapabilities.
    expect(
      requiredCapabilitiesOf(
        await callUpstreamTool(s.connections, u, auth, 'no_such_tool', {}).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    ).toBeUndefined();
    await s.connections.closeAll();
    await s.modern.close();
  });

  it('a 2026-07-28 upstream announcing tools/list_changed: reported for that upstream while the list connection lives', async () => {
    let changed: (u: UpstreamConfig) => void = () => {};
    const heard = new Promise<UpstreamConfig>((resolve) => (changed = resolve));
    const s = setup({ onToolsChanged: (u) => changed(u) });
    const u = upstream('crm', URL_2026);
    expect((await listUpstreamTools(s.connections, u, auth)).map((t) => t.name)).toEqual(['progress', 'needs_sampling']);
    expect(s.seen.methods).toContain('subscriptions/listen');
    s.modern.addTool();
    expect((await heard).name).toBe('crm');
    expect((await listUpstreamTools(s.connections, u, auth)).map((t) => t.name)).toEqual(['progress', 'needs_sampling', 'extra']);
    await s.connections.closeAll();
    await s.modern.close();
  });

  it('without onToolsChanged no listen stream is opened', async () => {
    const s = setup();
    await listUpstreamTools(s.connections, upstream('crm', URL_2026), auth);
    expect(s.seen.methods).not.toContain('subscriptions/listen');
    await s.connections.closeAll();
    await s.modern.close();
  });
});
