import { resolve } from 'node:path';
import { loadConfigFile } from '../../src/config/index.js';
import { DEFAULT_DEMO_PORTS, startDemoEnterprise, type DemoEnterprise } from './index.js';
import { printDemoBanner } from './main.js';

/**
 * `xaa-gateway demo` (`npm start`): runs the demo enterprise on the default ports (the ones the
 * committed mcp.config.json points at), prints how to sign in and connect a client, and runs until
 * SIGINT/SIGTERM. The gateway itself is started by the MCP client (stdio).
 */
export async function runDemo(opts: { configPath: string; credentialsPath: string; log?: (line: string) => void }): Promise<DemoEnterprise> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const configPath = resolve(opts.configPath);
  // Fail before binding anything if the config the instructions point at is broken.
  const runtime = loadConfigFile(configPath);
  let demo: DemoEnterprise;
  try {
    demo = await startDemoEnterprise({ ports: DEFAULT_DEMO_PORTS });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`a demo port (${Object.values(DEFAULT_DEMO_PORTS).join(', ')}) is already in use; is the demo already running in another terminal?`);
    }
    throw e;
  }
  const bin = resolve(import.meta.dirname, '../../bin/xaa-gateway.js');
  const gw = `node ${bin} --config ${configPath}`;
  printDemoBanner(demo, log);
  log('');
  log(`Gateway config: ${configPath} (${runtime.config.tools.length} tools, ${runtime.config.upstreams.length} upstream MCP server)`);
  log(`Audit log:      ${runtime.auditDir}`);
  log('');
  log('1. Sign in as a demo user, in another terminal (a browser opens the IdP page; --no-browser prints the URL):');
  log(`     ${gw} login`);
  log('2. Connect an MCP client to the gateway on stdio:');
  log(`     Claude Code:    claude mcp add xaa-gateway -- ${gw} stdio`);
  log(`     MCP Inspector:  npx @modelcontextprotocol/inspector ${gw} stdio`);
  log('     Claude Desktop: in claude_desktop_config.json');
  log(`       {"mcpServers": {"xaa-gateway": {"command": "node", "args": ${JSON.stringify([bin, '--config', configPath, 'stdio'])}}}}`);
  log(`   (credentials are kept in ${opts.credentialsPath})`);
  log('3. See the record:');
  log(`     ${gw} audit tail        ${gw} audit verify`);
  log('');
  log('Press Ctrl-C to stop.');
  const shutdown = () => {
    void demo.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return demo;
}
