import type { Command } from 'commander';
import { ConfigStore, loadConfigFile } from '../config/index.js';
import { defaultDeps } from '../deps.js';
import { readCredentials } from '../inbound/credentials.js';
import { logout } from '../inbound/local.js';
import { login } from '../inbound/login.js';
import { openInBrowser } from '../inbound/open-url.js';
import { out, type Globals } from './output.js';

/** `login`, `logout` and `whoami`: the local user that stdio calls are made for. */
export function registerLocalUserCommands(program: Command, globals: Globals): void {
  program
    .command('login')
    .description('sign in at the enterprise IdP (authorization code + PKCE, loopback redirect) so that stdio calls are made for you')
    .option('--no-browser', 'only print the sign-in URL')
    .option('--port <port>', 'loopback port for the redirect (default: any free port)', (v) => Number.parseInt(v, 10))
    .action(async (o: { browser: boolean; port?: number }) => {
      const g = globals();
      const runtime = loadConfigFile(g.config);
      const creds = await login({
        runtime,
        credentialsPath: g.credentials,
        deps: defaultDeps,
        port: o.port,
        openUrl: async (url) => {
          out.stderr(`Sign in at ${runtime.config.idp.issuer}:\n\n  ${url}\n`);
          if (o.browser) await openInBrowser(url).catch(() => out.stderr('(could not open a browser; open the URL above yourself)'));
          out.stderr('Waiting for the sign-in to finish...');
        },
      });
      out.stdout(`Signed in as ${creds.email ?? creds.sub} (${creds.issuer}). Credentials saved to ${g.credentials} (mode 0600).`);
    });

  program
    .command('logout')
    .description('revoke the refresh token at the IdP (where supported) and delete the local credentials')
    .action(async () => {
      const g = globals();
      const config = new ConfigStore(loadConfigFile(g.config));
      const r = await logout({ credentialsPath: g.credentials, config, deps: defaultDeps });
      if (!r.deleted) {
        out.stdout('Not signed in; nothing to do.');
        return;
      }
      out.stdout(
        `Signed out; deleted ${g.credentials}.${r.revoked ? ' The refresh token was revoked at the IdP.' : r.revokeError ? ` The refresh token was not revoked: ${r.revokeError}.` : ''}`,
      );
    });

  program
    .command('whoami')
    .description('show who stdio calls are made for')
    .action(async () => {
      const creds = await readCredentials(globals().credentials);
      if (!creds) {
        out.stdout('Not signed in. Run `xaa-gateway login`.');
        process.exitCode = 1;
        return;
      }
      out.stdout(
        `${creds.email ?? creds.sub} (sub ${creds.sub}) at ${creds.issuer}; ID token valid until ${new Date(creds.idTokenExpiresAt).toISOString()}${creds.refreshToken ? ', renewable' : ''}`,
      );
    });
}
