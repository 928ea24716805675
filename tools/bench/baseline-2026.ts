/**
 * The plain-SDK baseline of the 2026-07-28 era: `createMcpHandler` (SDK v2) with one tool that makes
 * the same GET to the demo SaaS with a static access token, served by @hono/node-server. No inbound
 * auth, no audit, no token broker: what the gateway's per-call work is measured against.
 * Run by tools/bench/index.ts as a child process: env BENCH_SAAS_URL, BENCH_SAAS_TOKEN; prints
 * "listening <origin>" on stdout.
 */
import { createAdaptorServer } from '@hono/node-server';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { benchTool } from './baseline-tool.js';

const tool = benchTool();
const handler = createMcpHandler(
  () => {
    const server = new McpServer({ name: 'bench-baseline-2026', version: '1.0.0' });
    server.registerTool(
      tool.name,
      { description: tool.description, inputSchema: z.object({ status: z.enum(['pending', 'approved', 'all']).optional() }) },
      tool.call,
    );
    return server;
  },
  { legacy: 'reject' },
);
const server = createAdaptorServer({
  fetch: (req: Request) => (new URL(req.url).pathname === '/mcp' ? handler.fetch(req) : new Response('not found', { status: 404 })),
}) as Server;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
