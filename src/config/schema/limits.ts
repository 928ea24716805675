import { z } from 'zod';

/** Limits of tool calls: rate limits per user and per tool, and the concurrency of one stdio connection. */

const CallRate = z
  .strictObject({
    calls: z.number().int().min(1).max(1_000_000_000).describe('Tool calls allowed in one window'),
    windowSeconds: z.number().int().min(1).max(86_400).default(60).describe('Length of the fixed window, in seconds'),
  })
  .describe('At most `calls` tool calls in each window of `windowSeconds`');

export const ToolRateLimitsConfig = z
  .strictObject({
    perUser: CallRate.optional().describe("Each user's calls of all tools together"),
    perTool: CallRate.optional().describe("Each tool's calls by all users together (every tool; tools.<name>.perTool replaces it for that tool)"),
    tools: z
      .record(
        z.string().min(1),
        z.strictObject({
          perUser: CallRate.optional().describe("Each user's calls of this tool"),
          perTool: CallRate.optional().describe("This tool's calls by all users together, instead of the top-level perTool"),
        }),
      )
      .default({})
      .describe('Limits of one tool, by its name as tools/list shows it (an upstream tool with its prefix)'),
  })
  .describe(
    'Rate limits of tool calls, per user and per tool: a call over a limit is denied by policy (tool error [rate_limited], audited). With REDIS_URL every instance counts in Redis, else each process on its own',
  );
export type ToolRateLimitsConfig = z.infer<typeof ToolRateLimitsConfig>;

export const StdioConfig = z
  .strictObject({
    maxConcurrentToolCalls: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe('tools/call requests in progress at once on one stdio connection; beyond it a JSON-RPC error (-32000) answers at once'),
    share: z
      .boolean()
      .default(true)
      .describe(
        'while a first client of this config and sign-in is served, serve each further one from one shared host process (its process relays bytes to it) instead of a gateway of its own; false: every client gets its own',
      ),
    shareIdleSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(10)
      .describe('how long the shared host stays up after its last client left, for the next one to find it ready'),
  })
  .describe('`xaa-gateway stdio`: limits of one desktop connection, and the shared host of further clients');
export type StdioConfig = z.infer<typeof StdioConfig>;
