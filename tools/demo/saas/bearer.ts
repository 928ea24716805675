import { jwtVerify } from 'jose';
import type { SaasContext } from './context.js';
import { jsonResponse, splitScope } from '../oauth.js';

/** Resource-server side: bearer token checks (RFC 6750) and the challenges that point at metadata (RFC 9728 §5.1). */

export interface AccessClaims {
  sub: string;
  email: string | undefined;
  scopes: string[];
  clientId: string;
}

export type Verified = { ok: true; auth: AccessClaims } | { ok: false; response: Response };

export function resourceMetadataUrl(ctx: SaasContext, resourcePath: string): string {
  return `${ctx.origin}/.well-known/oauth-protected-resource${resourcePath}`;
}

export async function verifyBearer(ctx: SaasContext, req: Request, resourcePath: string): Promise<Verified> {
  const meta = `resource_metadata="${resourceMetadataUrl(ctx, resourcePath)}"`;
  const header = req.headers.get('authorization');
  const token = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header ?? '')?.[1];
  // RFC 6750 §3.1: without any credentials the challenge carries no error code.
  if (!header) return { ok: false, response: challenge(`Bearer ${meta}`) };
  const invalid = (why: string) => ({ ok: false, response: challenge(`Bearer error="invalid_token", error_description="${why}", ${meta}`) }) as const;
  if (!token) return invalid('malformed Authorization header');
  try {
    const { payload } = await jwtVerify(token, ctx.verifyKey, {
      issuer: ctx.origin,
      audience: ctx.origin + resourcePath,
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'scope'],
    });
    if (payload.gen !== ctx.state.accessTokenGeneration[ctx.def.name]) return invalid('the access token was revoked');
    return {
      ok: true,
      auth: {
        sub: payload.sub!,
        email: typeof payload.email === 'string' ? payload.email : undefined,
        scopes: splitScope(String(payload.scope)),
        clientId: String(payload.client_id),
      },
    };
  } catch {
    return invalid('the access token is invalid, expired or not for this resource');
  }
}

function challenge(wwwAuthenticate: string): Response {
  return jsonResponse({ error: 'invalid_token' }, 401, { 'WWW-Authenticate': wwwAuthenticate });
}

/** RFC 6750 §3.1 insufficient_scope: 403 naming the scopes needed. */
export function insufficientScope(required: string[]): Response {
  return jsonResponse({ error: 'insufficient_scope', required }, 403, {
    'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${required.join(' ')}"`,
  });
}

export function missingScopes(auth: AccessClaims, required: string[]): string[] {
  return required.filter((s) => !auth.scopes.includes(s));
}

export function actingFor(auth: AccessClaims) {
  return { sub: auth.sub, email: auth.email };
}
