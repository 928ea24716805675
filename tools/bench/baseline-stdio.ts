/**
 * The plain-SDK stdio baseline: SDK v2 `McpServer` served by `serveStdio` (as the SDK's own example
 * serves it, either era from one factory, like `xaa-gateway stdio`) with one tool that makes the
 * same GET to the demo SaaS with a static access token. No identity, no policy, no audit, no token
 * broker. One process per client, started by the client: env BENCH_SAAS_URL, BENCH_SAAS_TOKEN.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
import { benchTool } from './baseline-tool.js';

const tool = benchTool();
serveStdio(() => {
  const server = new McpServer({ name: 'bench-baseline-stdio', version: '1.0.0' });
  server.registerTool(
    tool.name,
    { description: tool.description, inputSchema: z.object({ status: z.enum(['pending', 'approved', 'all']).optional() }) },
    tool.call,
  );
  return server;
});
