/**
 * Identifiers of the Shared Signals world: media types, delivery methods, event types. The event
 * type URIs are those of OpenID CAEP 1.0 §3 and OpenID RISC 1.0 §2; the SSF ones of SSF 1.0 §8.1.4.
 */

/** RFC 8417 §2.3: the JOSE `typ` of a SET. Compared exactly (no `application/` prefix accepted). */
export const SET_TYP = 'secevent+jwt';
/** RFC 8935 §2.1: the Content-Type of a pushed SET. */
export const SET_MEDIA_TYPE = 'application/secevent+jwt';

/** SSF 1.0 §6.1.1 / §7.1.1: delivery method URNs. */
export const PUSH_DELIVERY_METHOD = 'urn:ietf:rfc:8935';
export const POLL_DELIVERY_METHOD = 'urn:ietf:rfc:8936';

/** SSF 1.0 §7.1: where a transmitter publishes its configuration metadata. */
export const SSF_WELL_KNOWN = '/.well-known/ssf-configuration';

/** Where the gateway takes pushed SETs (RFC 8935). */
export const SSF_PUSH_PATH = '/ssf/events';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';

export const EVENT_TYPES = {
  sessionRevoked: `${CAEP}session-revoked`,
  credentialChange: `${CAEP}credential-change`,
  tokenClaimsChange: `${CAEP}token-claims-change`,
  accountDisabled: `${RISC}account-disabled`,
  accountPurged: `${RISC}account-purged`,
  credentialCompromise: `${RISC}credential-compromise`,
  accountEnabled: `${RISC}account-enabled`,
  verification: `${SSF}verification`,
  streamUpdated: `${SSF}stream-updated`,
} as const;

/**
 * RFC 8935 §2.4 (and the IANA "Security Event Token Error Codes" registry): the `err` values of a
 * 400 response to a push, and of `setErrs` in a poll request (RFC 8936 §2.4).
 */
export const SET_ERROR_CODES = ['invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience', 'authentication_failed', 'access_denied'] as const;
export type SetErrorCode = (typeof SET_ERROR_CODES)[number];

/** Short name of an event type URI for logs and audit reasons: "RISC account-disabled". */
export function eventTypeLabel(uri: string): string {
  if (uri.startsWith(CAEP)) return `CAEP ${uri.slice(CAEP.length)}`;
  if (uri.startsWith(RISC)) return `RISC ${uri.slice(RISC.length)}`;
  if (uri.startsWith(SSF)) return `SSF ${uri.slice(SSF.length)}`;
  return uri;
}
