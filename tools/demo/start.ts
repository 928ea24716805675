import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_FILE, loadConfigFile } from '../../src/config/index.js';
import { defaultCredentialsPath } from '../../src/inbound/credentials.js';
import { DEFAULT_DEMO_PORTS, startDemoEnterprise, type DemoEnterprise } from './index.js';
import { printDemoBanner } from './main.js';
import { connectProvisioning } from './scim-target.js';
import { connectEnterpriseManaged } from './gateway-trust.js';
import { connectSecurityEvents } from './ssf-stream.js';
import { runServe } from '../../src/server/serve.js';
import type { HttpServer } from '../../src/server/http.js';

/**
 * `npm start` (`tsx tools/demo/start.ts [--config file] [--credentials file]`): runs the demo enterprise on the default ports (the ones the
 * committed mcp.config.json points at) and the remote gateway on server.publicUrl (Streamable HTTP,
 * its own sign-in), prints how to connect a client either way, and runs until SIGINT/SIGTERM. The
 * stdio gateway is started by the desktop MCP client itself.
 */
export async function runDemo(opts: {
  configPath: string;
  credentialsPath: string;
  log?: (line: string) => void;
  /** PostgreSQL for the remote gateway's store instead of the embedded one. */
  databaseUrl?: string;
  /** Redis for shared rate limits. */
  redisUrl?: string;
}): Promise<{ demo: DemoEnterprise; gateway: HttpServer; stop(): Promise<void> }> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const configPath = resolve(opts.configPath);
  // Fail before binding anything if the config the instructions point at is broken.
  const runtime = loadConfigFile(configPath);
  let demo: DemoEnterprise;
  try {
    demo = await startDemoEnterprise({ ports: DEFAULT_DEMO_PORTS });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`a demo port (${Object.values(DEFAULT_DEMO_PORTS).join(', ')}) is already in use; is the demo already running in another terminal?`, {
        cause: e,
      });
    }
    throw e;
  }
  let gateway: HttpServer;
  try {
    gateway = await runServe({
      configPath,
      handleSignals: false,
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    });
  } catch (e) {
    await demo.stop();
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`the gateway port (server.port in ${configPath}) is already in use; is the demo already running in another terminal?`, { cause: e });
    }
    throw e;
  }
  const securityEvents = connectSecurityEvents(demo, runtime, gateway.listenUrl);
  const provisioning = await connectProvisioning(demo, runtime, gateway.listenUrl);
  const enterpriseManaged = connectEnterpriseManaged(demo, runtime);
  const bin = resolve(import.meta.dirname, '../../bin/xaa-gateway.js');
  const gw = `node ${bin} --config ${configPath}`;
  printDemoBanner(demo, log);
  log('');
  log(`Gateway config: ${configPath} (${runtime.config.tools.length} tools, ${runtime.config.upstreams.length} upstream MCP server)`);
  log(`Audit log:      ${runtime.auditDir}`);
  log('');
  log(`Remote gateway (Streamable HTTP, many users): ${gateway.mcpUrl}`);
  log('  Give an MCP client only that URL; it registers itself, you sign in at the IdP as a demo user and allow it:');
  log(`     Claude Code:    claude mcp add --transport http xaa-gateway ${gateway.mcpUrl}`);
  log(`     MCP Inspector:  npx @modelcontextprotocol/inspector  (Transport: Streamable HTTP, URL: ${gateway.mcpUrl})`);
  log(
    `  Admin console: ${new URL('/admin', gateway.mcpUrl).href}  (sign in as alice, a member of ${runtime.config.admin?.group ? `"${runtime.config.admin.group}"` : 'the admin group'}): tools, kill switches, sessions, audit`,
  );
  log(
    `  Admin CLI:     XAA_ADMIN_TOKEN=$(cat ${resolve(import.meta.dirname, 'secrets/gateway-admin-token')}) ${gw} admin --url ${new URL(gateway.mcpUrl).origin} switches list`,
  );
  log('');
  log('Local gateway (stdio, the user signed in on this machine):');
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
  if (securityEvents.length) {
    for (const line of securityEvents) log(line);
    log('');
  }
  if (provisioning.length) {
    for (const line of provisioning) log(line);
    log('');
  }
  if (enterpriseManaged.length) {
    for (const line of enterpriseManaged) log(line);
    log('');
  }
  log('Press Ctrl-C to stop.');
  const stop = async () => {
    await gateway.shutdown('demo stopping');
    await demo.stop();
  };
  const onSignal = () =>
    void stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { demo, gateway, stop };
}

/**
 * The demo's own entry (repository tooling, run through tsx): the product's CLI does not import demo
 * code, so an installed package carries none of it. Options as the CLI's: --config (XAA_CONFIG),
 * --credentials (XAA_CREDENTIALS), DATABASE_URL, REDIS_URL.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, credentials: { type: 'string' } },
    strict: true,
  });
  await runDemo({
    configPath: values.config ?? (process.env.XAA_CONFIG || DEFAULT_CONFIG_FILE),
    credentialsPath: values.credentials ?? (process.env.XAA_CREDENTIALS || defaultCredentialsPath()),
    databaseUrl: process.env.DATABASE_URL || undefined,
    redisUrl: process.env.REDIS_URL || undefined,
  });
  // Keeps running until Ctrl-C (the listeners hold the process open).
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`xaa-gateway demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
