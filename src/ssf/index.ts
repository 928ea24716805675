/** Security events from the IdP: an OpenID Shared Signals receiver (CAEP, RISC) over RFC 8935 push and RFC 8936 poll. */
export { createSsfReceiver, type SsfReceiver, type SsfReceiverOptions } from './receiver.js';
export {
  EVENT_TYPES,
  POLL_DELIVERY_METHOD,
  PUSH_DELIVERY_METHOD,
  SET_ERROR_CODES,
  SET_MEDIA_TYPE,
  SET_TYP,
  SSF_PUSH_PATH,
  SSF_WELL_KNOWN,
  type SetErrorCode,
} from './constants.js';
export { EVENT_EFFECTS, type Delivery, type EffectKind, type SecurityEventAudit } from './effects.js';
export { setErrorCode } from './errors.js';
export { nextPollDelay, type PollOutcome, type PollTimers } from './poll.js';
export { resolveSsfSettings, type SsfSettings } from './settings.js';
export type { LookupUserByEmail, SubjectId } from './subject.js';
export { lookupUsersInStore } from './lookup.js';
export type { SecurityEventClaims } from './seen-jtis.js';
export { ssfConfigurationUrl } from './transmitter.js';
