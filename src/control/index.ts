export type * from '../domain/control.js';
export {
  ControlService,
  recordAdminAction,
  type AdminActionInput,
  type ControlServiceOptions,
  type SetSwitchResult,
  type SessionView,
  type SessionAgentView,
} from './service.js';
export { SwitchSnapshot, type KillSwitchCheck, type SwitchQuery } from './snapshot.js';
export { KillSwitchSchema, SWITCH_KINDS, describeSwitch, denialReason, switchKey, switchTarget } from './switches.js';
export { revokeDownstreamTokens, type RevocationOutcome } from './revocation.js';
