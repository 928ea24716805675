import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { RuntimeConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { writeCredentials, type StoredCredentials } from './credentials.js';
import { idpConfiguration } from './idp-client.js';

export interface LoginOptions {
  runtime: RuntimeConfig;
  credentialsPath: string;
  deps: Deps;
  /** Shows the sign-in URL to the user (prints it, opens a browser); tests drive the IdP page here. */
  openUrl: (url: string) => void | Promise<void>;
  /** Loopback port for the redirect; 0 = any free port (RFC 8252 §7.3). */
  port?: number;
  timeoutMs?: number;
}

const PAGE = (title: string, body: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:system-ui;max-width:32rem;margin:4rem auto"><h1>${title}</h1><p>${body}</p></body>`;

/**
 * `xaa-gateway login`: authorization code + PKCE (RFC 7636) at the IdP with a loopback redirect
 * (RFC 8252 §7.3), asking for `openid profile email offline_access` so the ID token used as the
 * token-exchange subject can be renewed without the user.
 */
export async function login(opts: LoginOptions): Promise<StoredCredentials> {
  const { runtime, deps } = opts;
  const idp = runtime.config.idp;
  const config = await idpConfiguration(idp.issuer, runtime.idpClient, deps, runtime.config.idp.timeoutMs);
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();

  let server: Server | undefined;
  try {
    const callback = new Promise<URL>((resolveUrl, reject) => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', `http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
        if (url.pathname !== '/callback') {
          res.writeHead(404).end();
          return;
        }
        if (url.searchParams.get('state') !== state) {
          res
            .writeHead(400, { 'content-type': 'text/html' })
            .end(PAGE('Sign-in failed', 'The response did not match this sign-in (state). Start again with <code>xaa-gateway login</code>.'));
          return;
        }
        const error = url.searchParams.get('error');
        res
          .writeHead(error ? 400 : 200, { 'content-type': 'text/html' })
          .end(
            error
              ? PAGE('Sign-in failed', `The IdP said: ${escapeHtml(error)}. You can close this tab.`)
              : PAGE('Signed in', 'xaa-gateway is signed in. You can close this tab.'),
          );
        resolveUrl(url);
      });
      server.on('error', reject);
    });
    await new Promise<void>((res) => server!.listen(opts.port ?? 0, '127.0.0.1', res));
    const redirectUri = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/callback`;
    const authUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: idp.loginScopes.join(' '),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    await opts.openUrl(authUrl.href);
    const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
    const currentUrl = await Promise.race([
      callback,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new GatewayError('login_failed', `no sign-in within ${timeoutMs / 1000} s; run \`xaa-gateway login\` again`)),
          timeoutMs,
        ).unref(),
      ),
    ]);
    const error = currentUrl.searchParams.get('error');
    if (error) {
      throw new GatewayError(
        'login_failed',
        `the IdP refused the sign-in: ${error}${currentUrl.searchParams.get('error_description') ? ` (${currentUrl.searchParams.get('error_description')})` : ''}`,
      );
    }
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
    } catch (e) {
      throw new GatewayError('login_failed', `the IdP did not complete the sign-in: ${(e as Error).message}`, { cause: e });
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new GatewayError('login_failed', 'the IdP returned no ID token; is "openid" in idp.loginScopes?');
    const creds: StoredCredentials = {
      version: 1,
      issuer: idp.issuer,
      clientId: runtime.idpClient.clientId,
      sub: claims.sub,
      ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
      ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
      idToken: tokens.id_token,
      idTokenExpiresAt: claims.exp * 1000,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      savedAt: new Date(deps.now()).toISOString(),
    };
    await writeCredentials(opts.credentialsPath, creds);
    return creds;
  } finally {
    server?.closeAllConnections();
    server?.close();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
