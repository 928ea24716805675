import { createRemoteJWKSet, exportJWK, generateKeyPair, type JWK, type JWTVerifyGetKey } from 'jose';
import { randomBytes } from 'node:crypto';
import { DpopNonces, ProofReplayCache } from '../../../src/dpop/index.js';
import { JtiCache, type RegisteredClientAuth } from '../oauth.js';
import { GATEWAY_CLIENT_ID, type AppDefinition } from '../seed.js';
import { readDemoJwk, readDemoSecret } from '../secrets.js';
import type { DemoState } from '../state.js';

/** Everything one SaaS app (its AS, its API, for CRM its MCP server) shares. */
export interface SaasContext {
  def: AppDefinition;
  /** The app origin: also its AS issuer (RFC 8414 §2). */
  origin: string;
  resources: string[];
  idpIssuer: string;
  state: DemoState;
  signingKey: CryptoKey;
  verifyKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  lookupClient: (clientId: string) => RegisteredClientAuth | undefined;
  /** jti of client assertions (RFC 7523 §3) and of ID-JAGs (single use, the draft via RFC 7521 §5.2). */
  assertionJtis: JtiCache;
  grantJtis: JtiCache;
  /** DPoP (RFC 9449): the app's nonces (§8, §9; one secret for its AS and its APIs, which share an origin) and seen proof jtis (§11.1). */
  dpopNonces: DpopNonces;
  dpopProofs: ProofReplayCache;
  /** The IdP's keys, found through its metadata `jwks_uri` (resolved on first use). */
  idpKeys: () => Promise<JWTVerifyGetKey>;
}

export async function createSaasContext(def: AppDefinition, origin: string, idpIssuer: string, state: DemoState): Promise<SaasContext> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `${def.name}-${randomBytes(6).toString('hex')}`;
  const auth: RegisteredClientAuth =
    def.clientAuth.method === 'private_key_jwt'
      ? { method: 'private_key_jwt', publicJwk: readDemoJwk(def.clientAuth.publicKeyFile) }
      : { method: def.clientAuth.method, secret: readDemoSecret(def.clientAuth.secretFile) };
  let jwks: JWTVerifyGetKey | undefined;
  return {
    def,
    origin,
    resources: def.resourcePaths.map((p) => origin + p),
    idpIssuer,
    state,
    signingKey: privateKey,
    verifyKey: publicKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    kid,
    lookupClient: (id) => (id === GATEWAY_CLIENT_ID ? auth : undefined),
    assertionJtis: new JtiCache(),
    grantJtis: new JtiCache(),
    dpopNonces: new DpopNonces(randomBytes(32)),
    dpopProofs: new ProofReplayCache(),
    idpKeys: async () => {
      if (jwks) return jwks;
      const res = await fetch(`${idpIssuer}/.well-known/oauth-authorization-server`);
      if (!res.ok) throw new Error(`IdP metadata answered ${res.status}`);
      const meta = (await res.json()) as { issuer?: string; jwks_uri?: string };
      // RFC 8414 §3.3: the issuer in the metadata must be the one we trust.
      if (meta.issuer !== idpIssuer || !meta.jwks_uri) throw new Error('IdP metadata has a wrong issuer or no jwks_uri');
      jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
      return jwks;
    },
  };
}
