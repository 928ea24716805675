import { GatewayError, isGatewayError } from '../errors.js';
import type { SetErrorCode } from './constants.js';

/**
 * A SET refused for what it is (RFC 8935 §2.3): the transmitter is told why with an RFC 8935 §2.4
 * code and must not send it again as is. Anything else thrown while receiving (the transmitter's
 * keys unreachable, the store or the audit log down) is transient: no error code, the SET is
 * neither acknowledged nor refused, so the transmitter delivers it again.
 */
export function setError(err: SetErrorCode, description: string, cause?: unknown): GatewayError {
  return new GatewayError('security_event_invalid', description, { details: { err }, ...(cause === undefined ? {} : { cause }) });
}

/** The RFC 8935 code of a refused SET, or undefined for a transient failure. */
export function setErrorCode(e: unknown): SetErrorCode | undefined {
  return isGatewayError(e, 'security_event_invalid') ? (e.details?.err as SetErrorCode | undefined) : undefined;
}

/** RFC 8935 §2.3 error body; also the value of one `setErrs` member in RFC 8936 §2.4. */
export function setErrorBody(e: GatewayError): { err: SetErrorCode; description: string } {
  return { err: (e.details?.err as SetErrorCode | undefined) ?? 'invalid_request', description: e.message };
}
