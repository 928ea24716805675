import { jwtVerify } from 'jose';
import type { SaasContext } from './context.js';
import { DPOP_ALGS, dpopPolicy, resourceProof } from './dpop.js';
import { jsonResponse, splitScope } from '../oauth.js';

/**
 * Resource-server side: access token checks, by the Bearer (RFC 6750) or the DPoP (RFC 9449 §7)
 * scheme, and the challenges that point at metadata (RFC 9728 §5.1).
 */

export interface AccessClaims {
  sub: string;
  email: string | undefined;
  scopes: string[];
  clientId: string;
  /** RFC 9449 §6.1 `cnf.jkt`: the token is bound to that key and came with a proof of it. */
  jkt?: string;
}

export type Verified = { ok: true; auth: AccessClaims } | { ok: false; response: Response };

type Scheme = 'Bearer' | 'DPoP';

export function resourceMetadataUrl(ctx: SaasContext, resourcePath: string): string {
  return `${ctx.origin}/.well-known/oauth-protected-resource${resourcePath}`;
}

export async function verifyBearer(ctx: SaasContext, req: Request, resourcePath: string): Promise<Verified> {
  const meta = `resource_metadata="${resourceMetadataUrl(ctx, resourcePath)}"`;
  const required = dpopPolicy(ctx).dpop === 'required';
  const header = req.headers.get('authorization');
  const m = /^(Bearer|DPoP)\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header ?? '');
  const used: Scheme | undefined = m ? (m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer') : undefined;
  // Challenge in the scheme tried; where Bearer is not accepted at all, in DPoP (RFC 9449 §7.1).
  const scheme: Scheme = used === 'DPoP' || required ? 'DPoP' : 'Bearer';
  const deny = (s: Scheme, error?: { code: string; description: string }, headers: Record<string, string> = {}) =>
    ({ ok: false, response: challenge(s, meta, error, headers) }) as const;
  const invalid = (description: string, s = scheme) => deny(s, { code: 'invalid_token', description });

  // RFC 6750 §3.1: without any credentials the challenge carries no error code.
  if (!header) return deny(scheme);
  if (!m) return invalid('malformed Authorization header');
  const token = m[2]!;
  let auth: AccessClaims;
  try {
    const { payload } = await jwtVerify(token, ctx.verifyKey, {
      issuer: ctx.origin,
      audience: ctx.origin + resourcePath,
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'scope'],
    });
    if (payload.gen !== ctx.state.accessTokenGeneration[ctx.def.name]) return invalid('the access token was revoked');
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    if (cnf !== undefined && typeof cnf?.jkt !== 'string') return invalid('the access token has a cnf without jkt');
    auth = {
      sub: payload.sub!,
      email: typeof payload.email === 'string' ? payload.email : undefined,
      scopes: splitScope(String(payload.scope)),
      clientId: String(payload.client_id),
      ...(cnf ? { jkt: cnf.jkt as string } : {}),
    };
  } catch {
    return invalid('the access token is invalid, expired or not for this resource');
  }

  if (auth.jkt) {
    // RFC 9449 §7.2: a bound token presented as a bearer token is refused, or binding would mean nothing.
    if (used === 'Bearer') return invalid('the access token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449 §7.2)', 'DPoP');
    const proof = await resourceProof(ctx, req, token, auth.jkt);
    if (!proof.ok) return deny('DPoP', { code: proof.error, description: proof.description }, proof.headers);
  } else if (used === 'DPoP') {
    // §7.1: the proof's key must be the token's, and an unbound token has none.
    return invalid('the access token is not DPoP-bound: send it with the Bearer scheme');
  } else if (required) {
    return invalid('this resource takes only DPoP-bound access tokens (RFC 9449 §7.1)', 'DPoP');
  }
  return { ok: true, auth };
}

/** RFC 6750 §3 and RFC 9449 §7.1 challenges; DPoP ones name the proof algorithms (`algs`). */
function challenge(scheme: Scheme, meta: string, error: { code: string; description: string } | undefined, headers: Record<string, string>): Response {
  const params = [
    ...(error ? [`error="${error.code}"`, `error_description="${quotable(error.description)}"`] : []),
    ...(scheme === 'DPoP' ? [`algs="${DPOP_ALGS.join(' ')}"`] : []),
    meta,
  ];
  return jsonResponse({ error: error?.code ?? 'invalid_token' }, 401, { ...headers, 'WWW-Authenticate': `${scheme} ${params.join(', ')}` });
}

/** RFC 6750 §3: error_description is printable ASCII without '"' or '\' (proof failures quote what they saw). */
function quotable(s: string): string {
  return s
    .replace(/§/g, 'section ')
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7E]/g, '?');
}

/** RFC 6750 §3.1 insufficient_scope: 403 naming the scopes needed, in the scheme the token came by. */
export function insufficientScope(required: string[], auth?: AccessClaims): Response {
  return jsonResponse({ error: 'insufficient_scope', required }, 403, {
    'WWW-Authenticate': `${auth?.jkt ? 'DPoP' : 'Bearer'} error="insufficient_scope", scope="${required.join(' ')}"`,
  });
}

export function missingScopes(auth: AccessClaims, required: string[]): string[] {
  return required.filter((s) => !auth.scopes.includes(s));
}

export function actingFor(auth: AccessClaims) {
  return { sub: auth.sub, email: auth.email };
}
