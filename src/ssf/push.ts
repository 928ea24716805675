import { safeEqual } from '../security.js';
import { ERROR_TABLE, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { SET_MEDIA_TYPE, type SetErrorCode } from './constants.js';
import { setError, setErrorBody, setErrorCode } from './errors.js';
import type { SetProcessor } from './processor.js';
import type { SsfSettings } from './settings.js';

/**
 * RFC 8935 push delivery, web-standard: one SET per POST. 202 Accepted once it is acted on (or is a
 * duplicate); 400 with `{"err", "description"}` (§2.3) when it is refused, so the transmitter does not
 * send it again; 503 when the gateway cannot take it now (the transmitter's keys or the gateway's
 * store unreachable), so the transmitter retries.
 */

export interface PushContext {
  processor: SetProcessor;
  settings: () => SsfSettings | undefined;
  logger: Logger;
}

export async function handlePush(req: Request, ctx: PushContext): Promise<Response> {
  const s = ctx.settings();
  if (!s) return json(404, { description: 'this gateway has no Shared Signals receiver (no "ssf" section in its config)' });
  try {
    // RFC 8935 §4.1: the transmitter authenticates with the token the stream was configured with.
    if (s.pushToken !== undefined && !bearerMatches(req.headers.get('authorization'), s.pushToken)) {
      throw setError('authentication_failed', 'the Authorization header must carry the push bearer token configured for this stream');
    }
    if (s.delivery !== 'push') throw setError('access_denied', 'this receiver takes SETs by poll (RFC 8936), not by push');
    const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== SET_MEDIA_TYPE) {
      throw setError('invalid_request', `Content-Type must be ${SET_MEDIA_TYPE} (RFC 8935 §2.1), got ${type ? `"${type}"` : 'none'}`);
    }
    await ctx.processor.receive((await req.text()).trim(), 'push');
    return new Response(null, { status: 202 });
  } catch (e) {
    const code = setErrorCode(e);
    if (code) {
      const body = setErrorBody(toGatewayError(e));
      ctx.logger.warn('pushed SET refused', { err: body.err, description: body.description });
      return json(ERROR_TABLE.security_event_invalid.status, body);
    }
    const err = toGatewayError(e);
    ctx.logger.error('pushed SET not taken now; the transmitter should retry', { code: err.code, error: err.message });
    const busy = ERROR_TABLE.security_event_busy;
    return json(busy.status, { description: 'the SET could not be processed now; deliver it again later' }, { 'Retry-After': String(busy.retryAfterSeconds) });
  }
}

function json(status: number, body: { err?: SetErrorCode; description: string }, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers } });
}

function bearerMatches(header: string | null, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  return safeEqual(m[1]!, token);
}
