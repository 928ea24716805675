import type { Actor, RevocationSummary, UserRef } from '../domain/control.js';
import type { LookupUserByEmail } from '../ssf/subject.js';
import type { ScimResourceRecord } from '../store/types.js';
import { memberIds, userView } from './resources.js';
import type { ScimClient } from './settings.js';

/**
 * What a SCIM change does at the gateway. A SCIM user is entitled while it exists, is active and (when
 * the client names access groups) is a member of one of them. After every change the users it
 * touched are reconciled with that, idempotently, so a retried or replayed request converges:
 *
 * - not entitled: the user's kill switch is set (like an admin's user switch: cached tokens purged,
 *   sessions and refresh families revoked, downstream revocation tried), unless a switch is in force
 *   already, whoever set it;
 * - entitled: a switch this SCIM client set is lifted; anyone else's switch stays.
 */

/** What the reconciliation needs of src/control (ControlService). */
export interface ScimControl {
  disableUserUnlessSet(
    user: UserRef,
    reason: string,
    actor: Actor,
  ): Promise<{ set: true; revoked: RevocationSummary } | { set: false; existing: { actor: Actor; reason: string } }>;
  enableUserIfSetBy(user: UserRef, reason: string, actor: Actor, setBy: (a: Actor) => boolean): Promise<'lifted' | 'not_set' | 'kept'>;
}

export type ProvisioningEffect =
  /** Not entitled: the user switch was set now. */
  | 'deprovisioned'
  /** Not entitled, and a switch was in force already (this client's, an admin's, a security event's). */
  | 'already_disabled'
  /** Entitled: this client's switch was lifted. */
  | 'reprovisioned'
  /** Entitled, but a switch someone else set stays in force. */
  | 'kept_disabled'
  /** Entitled, nothing to lift. */
  | 'none'
  /** The SCIM user names no gateway user (no externalId, or no sign-in with its email yet). */
  | 'unresolved';

export interface UserEffect {
  scimId: string;
  userName: string;
  /** The gateway user acted on (absent when unresolved). */
  user?: UserRef;
  effect: ProvisioningEffect;
  /** Why the user is not entitled, when they are not. */
  why?: string;
  revoked?: RevocationSummary;
}

/** Why a user is not entitled; undefined when they are. `user` undefined: deleted. */
export function notEntitled(user: ScimResourceRecord | undefined, groups: readonly ScimResourceRecord[], client: ScimClient): string | undefined {
  if (!user) return 'deleted';
  if (!userView(user).active) return 'deactivated (active: false)';
  if (client.accessGroups.length === 0) return undefined;
  const wanted = new Set(client.accessGroups.map((g) => g.toLowerCase()));
  const member = groups.some((g) => wanted.has(g.name.toLowerCase()) && memberIds(g).includes(user.id));
  return member ? undefined : `in none of the access groups (${client.accessGroups.join(', ')})`;
}

/** The gateway users a SCIM user stands for, by the client's `subject` rule. */
export async function gatewayUsers(rec: ScimResourceRecord, client: ScimClient, lookupUserByEmail: LookupUserByEmail): Promise<UserRef[]> {
  const u = userView(rec);
  switch (client.subject) {
    case 'externalId':
      return u.externalId ? [{ iss: client.issuer, sub: u.externalId }] : [];
    case 'userName':
      return [{ iss: client.issuer, sub: u.userName }];
    case 'email':
      return u.email ? (await lookupUserByEmail(u.email)).filter((x) => x.iss === client.issuer) : [];
  }
}

export interface ReconcileContext {
  client: ScimClient;
  control: ScimControl;
  actor: Extract<Actor, { kind: 'scim' }>;
  lookupUserByEmail: LookupUserByEmail;
}

/**
 * Brings one SCIM user's gateway state in line with its entitlement. `rec` is the user as stored
 * now, or as it was before it was deleted (`deleted`). Throws when the control or the audit failed:
 * the IdP then gets an error and sends the request again, and the reconciliation runs again.
 */
export async function reconcileUser(
  rec: ScimResourceRecord,
  deleted: boolean,
  groups: readonly ScimResourceRecord[],
  ctx: ReconcileContext,
): Promise<UserEffect[]> {
  const why = notEntitled(deleted ? undefined : rec, groups, ctx.client);
  const users = await gatewayUsers(rec, ctx.client, ctx.lookupUserByEmail);
  const base = { scimId: rec.id, userName: rec.name, ...(why ? { why } : {}) };
  if (users.length === 0) return [{ ...base, effect: 'unresolved' }];
  const out: UserEffect[] = [];
  for (const user of users) {
    if (why) {
      const reason = `SCIM ${ctx.client.name}: user ${rec.name} ${why}`;
      const r = await ctx.control.disableUserUnlessSet(user, reason, ctx.actor);
      out.push(r.set ? { ...base, user, effect: 'deprovisioned', revoked: r.revoked } : { ...base, user, effect: 'already_disabled' });
    } else {
      const reason = `SCIM ${ctx.client.name}: user ${rec.name} provisioned again`;
      const ownSwitch = (a: Actor) => a.kind === 'scim' && a.client === ctx.client.name;
      const lifted = await ctx.control.enableUserIfSetBy(user, reason, ctx.actor, ownSwitch);
      out.push({ ...base, user, effect: lifted === 'lifted' ? 'reprovisioned' : lifted === 'kept' ? 'kept_disabled' : 'none' });
    }
  }
  return out;
}
