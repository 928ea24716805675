import { Hono, type MiddlewareHandler } from 'hono';
import { authorizeGet, authorizePost } from './authorize.js';
import type { IdpContext } from './context.js';
import { authorizationCodeGrant, refreshTokenGrant, revokeToken } from './tokens.js';
import { TOKEN_TYPE_ID_JAG, tokenExchangeGrant } from './token-exchange.js';
import { authenticateClient, handleOAuth, jsonResponse, OAuthError, readForm } from '../oauth.js';

/** The demo enterprise IdP: a minimal OIDC provider that also issues ID-JAGs. */

/**
 * No demo page may be framed: the IdP's sign-in page in a hidden frame is a clickjacking target
 * (X-Frame-Options for old browsers, CSP frame-ancestors for the others). Set on every answer.
 */
export const noFraming: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set('X-Frame-Options', 'DENY');
  c.res.headers.set('Content-Security-Policy', "frame-ancestors 'none'");
};

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export function idpMetadata(ctx: IdpContext) {
  const i = ctx.issuer;
  return {
    issuer: i,
    authorization_endpoint: `${i}/authorize`,
    token_endpoint: `${i}/token`,
    revocation_endpoint: `${i}/revoke`,
    userinfo_endpoint: `${i}/userinfo`,
    jwks_uri: `${i}/jwks`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'sid', 'email', 'email_verified', 'name', 'preferred_username'],
    authorization_response_iss_parameter_supported: true,
    // draft-ietf-oauth-identity-assertion-authz-grant §"Authorization Server (IdP) Metadata".
    identity_chaining_requested_token_types_supported: [TOKEN_TYPE_ID_JAG],
  };
}

export function createIdpApp(ctx: IdpContext): Hono {
  const app = new Hono();
  const clientAuth = {
    lookup: (id: string) => ctx.clients.get(id)?.auth,
    assertionAudiences: [ctx.issuer, `${ctx.issuer}/token`],
    jtis: ctx.assertionJtis,
  };

  app.use('*', async (c, next) => {
    if (ctx.state.idpDown) return c.json({ error: 'temporarily_unavailable', error_description: 'the demo IdP is down' }, 503);
    await next();
  });
  app.use('*', noFraming);

  app.get('/.well-known/openid-configuration', (c) => c.json(idpMetadata(ctx)));
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(idpMetadata(ctx)));
  app.get('/jwks', (c) => c.json({ keys: [ctx.publicJwk] }));
  app.get('/authorize', (c) => authorizeGet(ctx, c.req.raw));
  app.post('/authorize', (c) => authorizePost(ctx, c.req.raw));

  app.post('/token', (c) =>
    handleOAuth(async () => {
      const form = await readForm(c.req.raw);
      const clientId = await authenticateClient(c.req.raw, form, clientAuth);
      switch (form.get('grant_type')) {
        case 'authorization_code':
          return authorizationCodeGrant(ctx, clientId, form);
        case 'refresh_token':
          return refreshTokenGrant(ctx, clientId, form);
        case TOKEN_EXCHANGE:
          return tokenExchangeGrant(ctx, clientId, form);
        case null:
          throw new OAuthError('invalid_request', 'missing parameter "grant_type"');
        default:
          throw new OAuthError('unsupported_grant_type', `grant_type "${form.get('grant_type')}" is not supported`);
      }
    }),
  );

  app.post('/revoke', (c) =>
    handleOAuth(async () => {
      const form = await readForm(c.req.raw);
      const clientId = await authenticateClient(c.req.raw, form, clientAuth);
      return revokeToken(ctx, clientId, form);
    }),
  );

  app.get('/userinfo', (c) => {
    const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const at = token ? ctx.accessTokens.get(token) : undefined;
    const user = at && at.expiresAt > Date.now() ? ctx.state.users.get(at.username) : undefined;
    if (!user?.active) {
      return jsonResponse({ error: 'invalid_token' }, 401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    return c.json({ sub: user.sub, email: user.email, email_verified: true, name: user.name, preferred_username: user.username });
  });

  return app;
}
