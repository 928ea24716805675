import { randomUUID } from 'node:crypto';
import { createMcpHandler, Server } from '@modelcontextprotocol/server';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport as TransportV1 } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BrokeredToken } from '../../src/broker/index.js';
import { callUpstreamTool, listUpstreamTools, UpstreamConnections, type UpstreamAuth } from '../../src/catalog/upstream.js';
import type { UpstreamConfig } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';

/**
 * Upstream MCP servers of both eras, served in process (deps.fetch), behind a bearer check: the
 * gateway's connection is negotiated once and reused per token; 401 re-mints once; a 2025 upstream
 * that lost its session is reconnected once.
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

interface Log {
  methods: string[];
  /** HTTP requests by method (GET is the standalone stream, never opened by the gateway). */
  http: Record<string, number>;
}

function authorized(req: Request, valid: Set<string>): boolean {
  return valid.has((req.headers.get('authorization') ?? '').replace(/^Bearer /, ''));
}

/** A 2026-07-28 server (SDK v2 createMcpHandler) with one tool. */
function modernUpstream(valid: Set<string>, log: Log) {
  const handler = createMcpHandler(() => {
    const s = new Server({ name: 'modern-upstream', version: '1' }, { capabilities: { tools: {} } });
    s.setRequestHandler('tools/list', async () => ({
      tools: [{ name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } }],
    }));
    s.setRequestHandler('tools/call', async (req) => ({ content: [{ type: 'text', text: `modern: ${String(req.params.arguments?.text)}` }] }));
    return s;
  });
  return async (req: Request): Promise<Response> => {
    log.http[req.method] = (log.http[req.method] ?? 0) + 1;
    if (!authorized(req, valid)) return new Response('{}', { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    const body = req.method === 'POST' ? await req.clone().json() : undefined;
    if (body?.method) log.methods.push(body.method);
    return handler.fetch(req);
  };
}

/** A sessionful 2025 server (SDK v1), whose sessions can be forgotten (a restart). */
function legacyUpstream(valid: Set<string>, log: Log) {
  const sessions = new Map<string, TransportV1>();
  const fetch = async (req: Request): Promise<Response> => {
    log.http[req.method] = (log.http[req.method] ?? 0) + 1;
    if (!authorized(req, valid)) return new Response('{}', { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    const body = req.method === 'POST' ? await req.clone().json() : undefined;
    if (body?.method) log.methods.push(body.method);
    const sid = req.headers.get('mcp-session-id');
    if (sid) {
      const t = sessions.get(sid);
      if (!t) return Response.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, { status: 404 });
      return t.handleRequest(req, { parsedBody: body });
    }
    const transport = new TransportV1({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    const server = new McpServerV1({ name: 'legacy-upstream', version: '1' });
    server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `legacy: ${text}` }] }));
    await server.connect(transport);
    return transport.handleRequest(req, { parsedBody: body });
  };
  return { fetch, forgetSessions: () => sessions.clear() };
}

function setup() {
  const valid = new Set(['t1']);
  const modernLog: Log = { methods: [], http: {} };
  const legacyLog: Log = { methods: [], http: {} };
  const modern = modernUpstream(valid, modernLog);
  const legacy = legacyUpstream(valid, legacyLog);
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const req = new Request(input, init);
    return new URL(req.url).origin === new URL(URL_2026).origin ? modern(req) : legacy.fetch(req);
  }) as typeof fetch;
  const connections = new UpstreamConnections({ fetch: fetchImpl, now: Date.now });
  let remints = 0;
  const auth = (t: BrokeredToken): UpstreamAuth => ({
    token: t,
    remint: async () => {
      remints++;
      return token('t2');
    },
  });
  return { valid, modernLog, legacyLog, legacy, connections, auth, remints: () => remints };
}

describe('upstream MCP connections', () => {
  it.each([
    ['2026-07-28', URL_2026, 'modern', 'modernLog'],
    ['2025 (sessionful)', URL_2025, 'legacy', 'legacyLog'],
  ] as const)('%s upstream: listed and called over one reused connection, no GET stream', async (_, url, era, logName) => {
    const s = setup();
    const u = upstream(era, url);
    const tools = await listUpstreamTools(s.connections, u, s.auth(token('t1')));
    expect(tools.map((t) => t.name)).toEqual(['echo']);
    for (const text of ['a', 'b', 'c']) {
      const result = await callUpstreamTool(s.connections, u, s.auth(token('t1')), 'echo', { text });
      expect(result.content).toEqual([{ type: 'text', text: `${era}: ${text}` }]);
    }
    const log = s[logName];
    // One handshake for everything: the probe (both eras: it is how the era is learned), initialize only for 2025.
    expect(log.methods.filter((m) => m === 'server/discover').length).toBe(1);
    expect(log.methods.filter((m) => m === 'initialize').length).toBe(era === 'legacy' ? 1 : 0);
    expect(log.methods.filter((m) => m === 'tools/call').length).toBe(3);
    expect(log.http.GET ?? 0).toBe(0);
    await s.connections.closeAll();
  });

  it('a 401 re-mints once and the call goes on with the fresh token; a second 401 is downstream_unauthorized', async () => {
    const s = setup();
    const u = upstream('legacy', URL_2025);
    s.valid.clear();
    s.valid.add('t2'); // t1 was revoked by the upstream's AS
    const result = await callUpstreamTool(s.connections, u, s.auth(token('t1')), 'echo', { text: 'x' });
    expect(result.content).toEqual([{ type: 'text', text: 'legacy: x' }]);
    expect(s.remints()).toBe(1);
    s.valid.clear();
    const err = await callUpstreamTool(s.connections, u, s.auth(token('t3')), 'echo', { text: 'y' }).catch((e: unknown) => e);
    expect(isGatewayError(err, 'downstream_unauthorized')).toBe(true);
    expect(s.remints()).toBe(2);
    await s.connections.closeAll();
  });

  it('a 2025 upstream that forgot the session (restart): reconnected once, the call is made once', async () => {
    const s = setup();
    const u = upstream('legacy', URL_2025);
    await callUpstreamTool(s.connections, u, s.auth(token('t1')), 'echo', { text: 'before' });
    s.legacy.forgetSessions();
    const result = await callUpstreamTool(s.connections, u, s.auth(token('t1')), 'echo', { text: 'after' });
    expect(result.content).toEqual([{ type: 'text', text: 'legacy: after' }]);
    expect(s.legacyLog.methods.filter((m) => m === 'initialize').length).toBe(2);
    await s.connections.closeAll();
  });
});
