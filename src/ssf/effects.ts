import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditSink } from '../audit/types.js';
import type { Actor, RevocationSummary, SecurityControl, UserRef } from '../domain/control.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { EVENT_TYPES, eventTypeLabel } from './constants.js';
import { resolveUsers, type LookupUserByEmail } from './subject.js';
import type { VerifiedSet } from './validate.js';

/**
 * What a verified event does to the gateway, and its audit record. CAEP session-revoked,
 * credential-change and token-claims-change revoke what the user holds (sessions, refresh tokens,
 * cached downstream tokens) without blocking a new sign-in; RISC account-disabled, account-purged
 * and credential-compromise also block the user until account-enabled lifts it. Other event types
 * are acknowledged and audited as ignored (SSF 1.0 §8.1.1: a receiver gets what the stream delivers).
 */

export type EffectKind = 'revoke_user' | 'disable_user' | 'enable_user';

export const EVENT_EFFECTS: Readonly<Record<string, EffectKind>> = {
  [EVENT_TYPES.sessionRevoked]: 'revoke_user',
  [EVENT_TYPES.credentialChange]: 'revoke_user',
  [EVENT_TYPES.tokenClaimsChange]: 'revoke_user',
  [EVENT_TYPES.accountDisabled]: 'disable_user',
  [EVENT_TYPES.accountPurged]: 'disable_user',
  [EVENT_TYPES.credentialCompromise]: 'disable_user',
  [EVENT_TYPES.accountEnabled]: 'enable_user',
};

export type Delivery = 'push' | 'poll';

/** The `securityEvent` member of a 'security_event' audit record. */
export interface SecurityEventAudit {
  iss: string;
  jti: string;
  eventType: string;
  delivery: Delivery;
  /** ISO 8601 of the SET's `iat`. */
  issuedAt: string;
  subject: Record<string, unknown>;
  effect: EffectKind | 'ignored' | 'unresolved';
  revoked?: RevocationSummary;
  /** enable_user: whether the user was disabled before. */
  lifted?: boolean;
  /** account-enabled ignored because the user switch in force was set after the SET's `iat`. */
  stale?: true;
}

export interface ApplyContext {
  control: SecurityControl;
  audit: Pick<AuditSink, 'append'>;
  logger: Logger;
  lookupUserByEmail?: LookupUserByEmail;
}

/**
 * Acts on one verified SET and writes one audit record per user affected (or one saying it was
 * ignored or matched nobody). Throws when the control or the audit log failed, after recording
 * what it could: the SET is then not acknowledged and comes again (every effect is idempotent).
 */
export async function applyEvent(set: VerifiedSet, delivery: Delivery, ctx: ApplyContext): Promise<void> {
  const label = eventTypeLabel(set.eventType);
  const base = {
    iss: set.iss,
    jti: set.jti,
    eventType: set.eventType,
    delivery,
    issuedAt: new Date(set.iat * 1000).toISOString(),
    subject: set.subject,
  };
  const record = (securityEvent: SecurityEventAudit, reason: string, ok: boolean, user?: UserRef, error?: string): AuditEvent => ({
    type: 'security_event',
    phase: 'outcome',
    traceId: randomUUID(),
    ...(user ? { user: { iss: user.iss, sub: user.sub } } : {}),
    reason,
    outcome: ok ? { ok: true } : { ok: false, error: error ?? 'internal' },
    securityEvent,
  });

  const effect = EVENT_EFFECTS[set.eventType];
  if (!effect) {
    ctx.logger.info('security event ignored: no effect for its type', { jti: set.jti, eventType: set.eventType });
    await ctx.audit.append(record({ ...base, effect: 'ignored' }, `${label}: event type not acted on by the gateway; acknowledged`, true));
    return;
  }
  const users = await resolveUsers(set.subject, ctx.lookupUserByEmail);
  if (users.length === 0) {
    ctx.logger.warn('security event names no user the gateway knows; nothing done', {
      jti: set.jti,
      eventType: set.eventType,
      subjectFormat: set.subject.format,
    });
    await ctx.audit.append(record({ ...base, effect: 'unresolved' }, `${label}: the subject matches no gateway user; nothing to do`, true));
    return;
  }

  // `iat` dates a switch this event sets, so a later account-enabled is ordered against the IdP's clock.
  const actor: Actor = { kind: 'security_event', iss: set.iss, jti: set.jti, eventType: set.eventType, iat: set.iat };
  const reason = `${label} from ${set.iss}${adminReason(set.event)}`;
  let failure: unknown;
  for (const user of users) {
    try {
      const outcome = await run(effect, user, reason, actor, set.iat * 1000, ctx.control);
      const done = outcome.effect ?? effect;
      await ctx.audit.append(record({ ...base, effect: done, ...outcome.audit }, `${label}: ${outcome.summary}`, true, user));
      if (outcome.audit.stale)
        ctx.logger.warn('security event ignored: stale, the user switch in force is newer', { jti: set.jti, eventType: set.eventType, sub: user.sub });
      else ctx.logger.info('security event acted on', { jti: set.jti, eventType: set.eventType, effect, sub: user.sub, ...outcome.audit });
    } catch (e) {
      failure ??= e;
      const err = toGatewayError(e);
      ctx.logger.error('security event: acting on it failed; it will be taken again when redelivered', {
        jti: set.jti,
        effect,
        sub: user.sub,
        code: err.code,
        error: err.message,
      });
      // Best effort: the audit log may be what failed.
      await ctx.audit.append(record({ ...base, effect }, `${label}: ${effect} failed: ${err.message}`, false, user, err.code)).catch(() => {});
    }
  }
  if (failure !== undefined) throw failure;
}

async function run(
  effect: EffectKind,
  user: UserRef,
  reason: string,
  actor: Actor,
  eventTime: number,
  control: SecurityControl,
): Promise<{ summary: string; audit: Pick<SecurityEventAudit, 'revoked' | 'lifted' | 'stale'>; effect?: 'ignored' }> {
  switch (effect) {
    case 'revoke_user': {
      const revoked = await control.revokeUser(user, reason, actor);
      return { summary: `sessions and tokens revoked (${describe(revoked)})`, audit: { revoked } };
    }
    case 'disable_user': {
      const revoked = await control.disableUser(user, reason, actor);
      return { summary: `user disabled; sessions and tokens revoked (${describe(revoked)})`, audit: { revoked } };
    }
    case 'enable_user': {
      const lifted = await control.enableUser(user, reason, actor, eventTime);
      if (lifted === 'stale') {
        // An enable older than the disable it would undo: replayed, or delivered out of order.
        return {
          summary: 'ignored: stale, issued before the user switch in force was set; the switch stays',
          audit: { lifted: false, stale: true },
          effect: 'ignored',
        };
      }
      return { summary: lifted ? 'user switch lifted' : 'user was not disabled; nothing to lift', audit: { lifted } };
    }
  }
}

function describe(r: RevocationSummary): string {
  return `${r.sessions} session(s), ${r.refreshTokens} refresh token(s), ${r.downstreamTokens} downstream token(s)`;
}

/** CAEP 1.0 §2: `reason_admin` is a map of language tags to text (older drafts: a string). */
function adminReason(event: Record<string, unknown>): string {
  const r = event.reason_admin;
  const text = typeof r === 'string' ? r : r && typeof r === 'object' ? (r as Record<string, unknown>).en : undefined;
  return typeof text === 'string' && text ? `: ${text.slice(0, 200)}` : '';
}
