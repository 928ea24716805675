import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import type { JtiCache, RegisteredClientAuth } from '../oauth.js';
import { APP_DEFINITIONS, SEED_IDP_CLIENTS, type IdpClient } from '../seed.js';
import { readDemoSecret } from '../secrets.js';
import type { DemoState } from '../state.js';
import type { DemoAppName, DemoUrls } from '../types.js';

/** A resource app as the IdP knows it: the audience (its AS issuer), its resources and scopes. */
export interface IdpKnownApp {
  name: DemoAppName;
  issuer: string;
  resources: string[];
  scopes: readonly string[];
}

/** A gateway's authorization server as the IdP knows it (idp/gateways.ts). */
export interface IdpKnownGateway {
  issuer: string;
  resource: string;
  scopes: readonly string[];
  /** The IdP client operating it: the one that may present its ID-JAGs in the chained exchange. */
  operatedBy: string;
}

export interface AuthCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string[];
  nonce?: string;
  username: string;
  sid: string;
  authTime: number;
  expiresAt: number;
}

export interface RefreshGrant {
  clientId: string;
  username: string;
  sid: string;
  scope: string[];
  authTime: number;
}

/** Everything the IdP's handlers share. Codes and tokens live in memory: a demo restarts clean. */
export interface IdpContext {
  issuer: string;
  state: DemoState;
  signingKey: CryptoKey;
  verifyKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  clients: Map<string, IdpClient & { auth: RegisteredClientAuth }>;
  apps: IdpKnownApp[];
  /** Trusted gateway authorization servers by issuer (DemoEnterprise.trustGateway). */
  gateways: Map<string, IdpKnownGateway>;
  codes: Map<string, AuthCode>;
  refreshTokens: Map<string, RefreshGrant>;
  accessTokens: Map<string, { username: string; scope: string[]; expiresAt: number }>;
  assertionJtis: JtiCache;
}

export async function createIdpContext(urls: DemoUrls, state: DemoState, jtis: JtiCache): Promise<IdpContext> {
  // A fresh signing key per start: nothing signed by a previous run stays valid.
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `idp-${randomBytes(6).toString('hex')}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const clients = new Map(
    SEED_IDP_CLIENTS.map((c) => [
      c.clientId,
      {
        ...c,
        // The IdP takes either way of sending the secret (its metadata lists both).
        auth: { method: 'client_secret_basic' as const, secret: readDemoSecret(c.secretFile), alsoAccept: ['client_secret_post' as const] },
      },
    ]),
  );
  const apps = Object.values(APP_DEFINITIONS).map((d) => ({
    name: d.name,
    issuer: urls[d.name],
    resources: d.resourcePaths.map((p) => urls[d.name] + p),
    scopes: d.scopes,
  }));
  return {
    issuer: urls.idp,
    state,
    signingKey: privateKey,
    verifyKey: publicKey,
    publicJwk,
    kid,
    clients,
    apps,
    gateways: new Map(),
    codes: new Map(),
    refreshTokens: new Map(),
    accessTokens: new Map(),
    assertionJtis: jtis,
  };
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Exact match of a registered redirect URI, or any port on the loopback IP (RFC 8252 §7.3). */
export function redirectUriAllowed(client: IdpClient, redirectUri: string): boolean {
  if (client.redirectUris.includes(redirectUri)) return true;
  if (!client.loopback || !URL.canParse(redirectUri)) return false;
  const u = new URL(redirectUri);
  return (
    u.protocol === 'http:' &&
    (u.hostname === '127.0.0.1' || u.hostname === '[::1]') &&
    (u.pathname === '/callback' || (client.loopbackPaths ?? []).includes(u.pathname)) &&
    !u.search &&
    !u.hash &&
    !u.username &&
    !u.password
  );
}
