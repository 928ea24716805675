import type { Context } from 'hono';
import type { RegisteredClient } from '../../../store/types.js';
import type { AsContext } from './context.js';
import { jsonResponse, oauthError, oauthErrorResponse, randomToken, sha256 } from './http.js';
import { applicationTypeProblem, inferApplicationType, parseApplicationType, redirectUriProblem } from './redirect-uri.js';

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];
const MAX_BODY_BYTES = 16 * 1024;

/**
 * POST /register (RFC 7591). Registers public clients (PKCE only, the default) and confidential ones
 * (a secret is issued once; only its SHA-256 is kept). Registered names are shown as unverified.
 */
export async function register(ctx: AsContext, c: Context): Promise<Response> {
  try {
    if (!ctx.server().dynamicRegistration) {
      return jsonResponse(
        {
          error: 'invalid_request',
          error_description:
            'dynamic client registration is turned off on this gateway (server.dynamicRegistration); ask the administrator to register your client, or use a Client ID Metadata Document',
        },
        404,
      );
    }
    await ctx.limits.consume('register', { address: ctx.address(c) });
    if (!/^application\/json\b/i.test(c.req.header('content-type') ?? ''))
      throw oauthError('invalid_client_metadata', 'send the client metadata as application/json');
    const text = await c.req.text();
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw oauthError('invalid_client_metadata', `client metadata is larger than ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw oauthError('invalid_client_metadata', 'the body is not valid JSON');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw oauthError('invalid_client_metadata', 'the body must be a JSON object');
    const client = validate(body as Record<string, unknown>, ctx.deps.now());
    const secret = client.tokenEndpointAuthMethod === 'none' ? undefined : randomToken();
    await ctx.store.upsertClient({ ...client, ...(secret ? { clientSecretHash: sha256(secret) } : {}) });
    ctx.logger.info('client registered (RFC 7591)', { clientId: client.clientId, clientName: client.clientName, redirectUris: client.redirectUris });
    return jsonResponse(
      {
        ...client.metadata,
        client_id: client.clientId,
        client_id_issued_at: Math.floor(client.createdAt / 1000),
        ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      },
      201,
    );
  } catch (e) {
    return oauthErrorResponse(e);
  }
}

function validate(m: Record<string, unknown>, now: number): RegisteredClient {
  const uris = m.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw oauthError('invalid_redirect_uri', 'redirect_uris must be a non-empty array');
  if (uris.length > 20) throw oauthError('invalid_redirect_uri', 'at most 20 redirect_uris');
  uris.forEach((u, i) => {
    const problem = redirectUriProblem(u);
    if (problem) throw oauthError('invalid_redirect_uri', `redirect_uris[${i}] ${problem}`);
  });
  const requestedType = parseApplicationType(m.application_type);
  if (requestedType === 'invalid') throw oauthError('invalid_client_metadata', 'application_type must be "web" or "native"');
  if (requestedType) {
    (uris as string[]).forEach((u, i) => {
      const problem = applicationTypeProblem(requestedType, u);
      if (problem) throw oauthError('invalid_redirect_uri', `redirect_uris[${i}] ${problem}`);
    });
  }
  // Stored and returned either way (RFC 7591 §3.2.1: the response holds the registered metadata).
  const applicationType = requestedType ?? inferApplicationType(uris as string[]);
  const method = (m.token_endpoint_auth_method ?? 'none') as AuthMethod;
  if (!AUTH_METHODS.includes(method)) throw oauthError('invalid_client_metadata', `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  const grantTypes = stringList(m.grant_types, 'grant_types') ?? ['authorization_code', 'refresh_token'];
  const badGrant = grantTypes.find((g) => g !== 'authorization_code' && g !== 'refresh_token');
  if (badGrant) throw oauthError('invalid_client_metadata', `grant_type "${badGrant}" is not supported (authorization_code, refresh_token)`);
  const responseTypes = stringList(m.response_types, 'response_types') ?? ['code'];
  if (responseTypes.some((r) => r !== 'code')) throw oauthError('invalid_client_metadata', 'response_types may only contain "code"');
  let clientName: string | undefined;
  if (m.client_name !== undefined) {
    if (typeof m.client_name !== 'string' || !m.client_name.trim() || m.client_name.length > 200) {
      throw oauthError('invalid_client_metadata', 'client_name must be a non-empty string of at most 200 characters');
    }
    // eslint-disable-next-line no-control-regex
    clientName = m.client_name.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  }
  const optionalUrl = (key: 'client_uri' | 'logo_uri') => {
    const v = m[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !URL.canParse(v) || new URL(v).protocol !== 'https:')
      throw oauthError('invalid_client_metadata', `${key} must be an https URL`);
    return v;
  };
  // RFC 9449 §5.2: a client that always wants DPoP-bound tokens; /token then refuses it without a proof.
  const dpopBound = m.dpop_bound_access_tokens;
  if (dpopBound !== undefined && typeof dpopBound !== 'boolean') throw oauthError('invalid_client_metadata', 'dpop_bound_access_tokens must be a boolean');
  const clientUri = optionalUrl('client_uri');
  const logoUri = optionalUrl('logo_uri');
  const clientId = `dyn_${randomToken(18)}`;
  const metadata: Record<string, unknown> = {
    redirect_uris: uris,
    ...(applicationType ? { application_type: applicationType } : {}),
    token_endpoint_auth_method: method,
    grant_types: grantTypes,
    response_types: responseTypes,
    ...(clientName ? { client_name: clientName } : {}),
    ...(clientUri ? { client_uri: clientUri } : {}),
    ...(logoUri ? { logo_uri: logoUri } : {}),
    ...(typeof m.software_id === 'string' ? { software_id: m.software_id.slice(0, 200) } : {}),
    ...(typeof m.software_version === 'string' ? { software_version: m.software_version.slice(0, 100) } : {}),
    ...(dpopBound !== undefined ? { dpop_bound_access_tokens: dpopBound } : {}),
  };
  return {
    clientId,
    source: 'dynamic',
    ...(clientName ? { clientName } : {}),
    redirectUris: uris as string[],
    tokenEndpointAuthMethod: method,
    metadata,
    createdAt: now,
  };
}

function stringList(v: unknown, key: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw oauthError('invalid_client_metadata', `${key} must be an array of strings`);
  return v as string[];
}
