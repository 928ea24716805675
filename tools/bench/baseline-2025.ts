/**
 * The plain-SDK baseline of the 2025 era: SDK v1 (`@modelcontextprotocol/sdk` 1.x) McpServer over
 * StreamableHTTPServerTransport with sessions in process memory, as the SDK's own example serves it,
 * with one tool that makes the same GET to the demo SaaS with a static access token. No inbound
 * auth, no audit, no token broker. Run by tools/bench/index.ts as a child process: env
 * BENCH_SAAS_URL, BENCH_SAAS_TOKEN; prints "listening <origin>" on stdout.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { benchTool } from './baseline-tool.js';

const tool = benchTool();
const sessions = new Map<string, StreamableHTTPServerTransport>();

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
}

const server = createServer((req, res) => {
  void (async () => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') return void res.writeHead(404).end();
    const sid = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport) {
      if (sid !== undefined || !isInitializeRequest(body))
        return void res
          .writeHead(404, { 'Content-Type': 'application/json' })
          .end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
      const t = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => void sessions.set(id, t) });
      t.onclose = () => void (t.sessionId && sessions.delete(t.sessionId));
      const mcp = new McpServer({ name: 'bench-baseline-2025', version: '1.0.0' });
      mcp.registerTool(tool.name, { description: tool.description, inputSchema: { status: z.enum(['pending', 'approved', 'all']).optional() } }, tool.call);
      await mcp.connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res, body);
  })().catch((e: unknown) => {
    if (!res.headersSent) res.writeHead(500).end(String(e));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
