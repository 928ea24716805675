import { ERROR_TABLE, GatewayError, retryAfterOf, toGatewayError, type ErrorCode } from '../errors.js';
import { SCHEMAS, SCIM_MEDIA_TYPE, type ScimType } from './constants.js';

/** A SCIM request refused for what it is: the code's status, and the RFC 7644 §3.12 scimType if one fits. */
export function scimError(code: Extract<ErrorCode, `scim_${string}`>, detail: string, scimType?: ScimType): GatewayError {
  return new GatewayError(code, detail, scimType ? { details: { scimType } } : {});
}

/** Shorthand for the common 400. */
export const invalid = (scimType: ScimType, detail: string): GatewayError => scimError('scim_invalid', detail, scimType);

/**
 * The RFC 7644 §3.12 error response of any error: the table's status; codes that are not on the SCIM
 * surface answer a bare 500 (their message may name internals). `status` is a string in SCIM.
 */
export function scimErrorResponse(e: unknown): Response {
  const err = toGatewayError(e);
  const spec = ERROR_TABLE[err.code];
  const shown = spec.surfaces.includes('scim');
  const status = shown ? spec.status : 500;
  const detail = !shown || err.code === 'internal' ? (ERROR_TABLE.internal.shown ?? 'Internal error') : (spec.shown ?? err.message);
  const scimType = shown ? (err.details?.scimType as ScimType | undefined) : undefined;
  const headers: Record<string, string> = { 'Content-Type': SCIM_MEDIA_TYPE, 'Cache-Control': 'no-store' };
  const retry = shown ? retryAfterOf(err) : undefined;
  if (retry !== undefined) headers['Retry-After'] = String(retry);
  // RFC 6750 §3: a refused bearer token is answered with a challenge.
  if (err.code === 'scim_unauthorized')
    headers['WWW-Authenticate'] = err.details?.missing ? 'Bearer realm="scim"' : 'Bearer realm="scim", error="invalid_token"';
  return new Response(JSON.stringify({ schemas: [SCHEMAS.error], status: String(status), ...(scimType ? { scimType } : {}), detail }), { status, headers });
}
