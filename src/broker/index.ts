export {
  TokenBroker,
  type XaaPort,
  type SubjectTokenSource,
  type IdpSettings,
  type MintTarget,
  type BrokeredToken,
  type BrokerStats,
  type DroppedToken,
} from './broker.js';
export { tokenKey, normalizeScopes, type TokenKeyParts } from './key.js';
