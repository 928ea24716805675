import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { openAuditLog } from '../audit/index.js';
import { ConfigStore, loadConfigFile } from '../config/index.js';
import { defaultDeps, type Deps } from '../deps.js';
import { LocalIdentity } from '../inbound/local.js';
import { createLogger, type Logger } from '../log.js';
import { setupTracing } from '../observability/index.js';
import { Gateway } from './gateway.js';
import { createMcpServer } from './mcp.js';

export interface StdioOptions {
  configPath: string;
  credentialsPath: string;
  deps?: Deps;
  logger?: Logger;
}

/** `xaa-gateway stdio`: the desktop clients start the gateway and speak MCP on stdin/stdout. */
export async function runStdio(opts: StdioOptions): Promise<void> {
  const deps = opts.deps ?? defaultDeps;
  const logger = opts.logger ?? createLogger();
  const config = new ConfigStore(loadConfigFile(opts.configPath));
  config.subscribe({
    onChange: (next) => logger.info('config reloaded', { path: next.path, tools: next.config.tools.length }),
    onInvalid: (message) => logger.error('config edit refused; the last good config stays in force', { error: message }),
  });
  config.watch();
  const o = config.current.config.observability;
  // Traces only: stdio has no HTTP listener for /metrics.
  const tracing = setupTracing({ ...(o?.otlp ? { endpoint: o.otlp.endpoint } : {}), ...(o?.serviceName ? { serviceName: o.serviceName } : {}) });
  const audit = await openAuditLog(config.current.auditDir, deps);
  const gateway = new Gateway({
    config,
    identity: new LocalIdentity({ credentialsPath: opts.credentialsPath, config, deps }),
    audit,
    deps,
    logger,
  });
  const server = createMcpServer(gateway);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    const previous = server.onclose;
    server.onclose = () => {
      previous?.();
      resolve();
    };
  });
  await server.connect(transport);
  // The SDK's stdio transport does not close on EOF; a client that exits must end the gateway too.
  process.stdin.once('end', () => void server.close());
  logger.info('xaa-gateway stdio ready', { config: config.current.path, auditDir: config.current.auditDir });
  await closed;
  config.close();
  await gateway.flush();
  await audit.close();
  await tracing.shutdown();
}
