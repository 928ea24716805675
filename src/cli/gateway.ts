import { Option, type Command } from 'commander';
import { out, type Globals } from './output.js';

/** How long `serve` may linger after it stopped before it exits regardless (see the serve action). */
const STOPPED_LINGER_MS = 2_000;

/** `stdio` and `serve`: the gateway itself, for one desktop user or for many over HTTP. */
export function registerGatewayCommands(program: Command, globals: Globals): void {
  program
    .command('stdio')
    .description('serve MCP over stdin/stdout for a desktop client (Claude Desktop, Claude Code, Cursor); the user is the one signed in with `login`')
    .option('--standalone', 'serve this client in this process, never through the shared host (stdio.share)')
    .addOption(new Option('--share-host', 'run as the shared host of further clients (started by `stdio` itself)').hideHelp())
    .action(async (o: { standalone?: boolean; shareHost?: boolean }) => {
      const g = globals();
      // Loaded on use: a relayed client's process stays small.
      const { runStdioCommand } = await import('../server/stdio/share/command.js');
      process.exitCode = await runStdioCommand({ configPath: g.config, credentialsPath: g.credentials, standalone: o.standalone, shareHost: o.shareHost });
    });

  program
    .command('serve')
    .description('serve MCP over Streamable HTTP for many users (remote connectors); needs the "server" section of the config')
    .option('--port <port>', 'listen port (default: server.port; 0 = any free port)', (v) => Number.parseInt(v, 10))
    .option('--host <host>', 'listen address (default: server.host)')
    .action(async (o: { port?: number; host?: string }) => {
      const { runServe } = await import('../server/serve.js');
      const http = await runServe({
        configPath: globals().config,
        host: o.host,
        port: o.port,
        databaseUrl: process.env.DATABASE_URL || undefined,
        redisUrl: process.env.REDIS_URL || undefined,
        configSource: process.env.XAA_CONFIG_SOURCE || undefined,
        storeSchema: process.env.XAA_STORE_SCHEMA || undefined,
      });
      out.stdout(`MCP endpoint: ${http.mcpUrl}  (listening on ${http.listenUrl})`);
      await http.closed;
      // Stopped: audit flushed, store closed. Whatever still holds the event loop (a stream an upstream
      // never ended, a socket) must not keep a stopped gateway alive until its supervisor's SIGKILL.
      const linger = setTimeout(() => {
        const handles = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
        const kinds = handles
          .filter((h) => h !== process.stdout && h !== process.stderr && h !== process.stdin)
          .map((h) => {
            const s = h as { constructor?: { name?: string }; localPort?: number; remotePort?: number; remoteAddress?: string; server?: unknown };
            return s.remotePort !== undefined
              ? `${s.constructor?.name ?? 'Socket'} ${s.server ? 'accepted' : 'outbound'} :${s.localPort} -> ${s.remoteAddress}:${s.remotePort}`
              : (s.constructor?.name ?? 'unknown');
          });
        process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'stopped, but handles were still open: exiting anyway', handles: kinds })}\n`);
        process.exit(process.exitCode ?? 0);
      }, STOPPED_LINGER_MS);
      linger.unref();
    });
}
