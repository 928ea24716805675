import { Command, Option } from 'commander';
import { registerAdminCommand } from './admin/cli.js';
import { registerAuditCommands } from './cli/audit.js';
import { registerConfigCommands } from './cli/config.js';
import { registerGatewayCommands } from './cli/gateway.js';
import { registerLocalUserCommands } from './cli/local-user.js';
import { out } from './cli/output.js';
import { DEFAULT_CONFIG_FILE } from './config/index.js';
import { cliFailure } from './errors.js';
import { defaultCredentialsPath } from './inbound/credentials.js';

const program = new Command('xaa-gateway')
  .description('MCP gateway that calls SaaS tools for the signed-in user with short-lived Cross App Access (ID-JAG) tokens, and audits every call')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true })
  .addOption(new Option('-c, --config <file>', 'config file').default(DEFAULT_CONFIG_FILE).env('XAA_CONFIG'))
  .addOption(
    new Option('--credentials <file>', "where `login` keeps the local user's IdP credentials")
      .default(defaultCredentialsPath(), '~/.config/xaa-gateway/credentials.json')
      .env('XAA_CREDENTIALS'),
  );

const globals = () => program.opts<{ config: string; credentials: string }>();

// Registered in this order, which is the order of `--help`.
registerGatewayCommands(program, globals);
registerLocalUserCommands(program, globals);
registerConfigCommands(program, globals);
registerAuditCommands(program, globals);

registerAdminCommand(
  program,
  { ...out, env: process.env, stdin: () => new Response(process.stdin as unknown as ReadableStream).text() },
  (code) => (process.exitCode = code),
);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Known failures print their message (which names the field and the fix) without a stack; the exit status is the error table's.
  const failure = cliFailure(e);
  out.stderr(failure.message);
  process.exitCode = failure.exitCode;
}
