import type { AuditSink } from '../audit/types.js';
import type { TokenBroker } from '../broker/index.js';
import type { ConfigStore } from '../config/index.js';
import type { Deps } from '../deps.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import type { AuthorizationServerMetadata } from '../xaa/types.js';
import { recordAdminAction, switchTargets, type AdminActionInput } from './admin-action.js';
import { Revoker } from './revoker.js';
import { listSessionViews, sessionUser, type SessionView } from './session-view.js';
import type { SwitchSnapshot } from './snapshot.js';
import { describeSwitch, switchKey } from './switches.js';
import type { Actor, KillSwitch, RevocationSummary, SecurityControl, SwitchState, UserRef } from '../domain/control.js';

// Split out of this file; exported from here as before.
export { recordAdminAction, type AdminActionInput } from './admin-action.js';
export type { SessionAgentView, SessionView } from './session-view.js';

export interface ControlServiceOptions {
  store: Store;
  /** The snapshot the gateway's policy reads (also given to `new Gateway({ switches })`). */
  snapshot: SwitchSnapshot;
  /** The gateway's token cache (gateway.broker). */
  broker: Pick<TokenBroker, 'drop'>;
  config: ConfigStore;
  audit: AuditSink;
  deps: Deps;
  logger: Logger;
  /** RFC 8414 discovery for revocation endpoints. Default: a discovery client of its own. */
  discover?: (issuer: string) => Promise<AuthorizationServerMetadata>;
  /**
   * How often the store's switch revision is polled (ms), so a switch set on another instance
   * sharing the PostgreSQL store takes effect here. Default 500 for PostgreSQL, 0 (off) for the
   * embedded store, which has one process by construction.
   */
  refreshMs?: number;
  /** Per RFC 7009 revocation request. Default 5 s. */
  revocationTimeoutMs?: number;
}

export interface SetSwitchResult {
  state: SwitchState;
  previous?: SwitchState;
  revoked: RevocationSummary;
}

/**
 * Kill switches and session revocation, in force on the next call: the switch is written to the
 * store, then applied to the in-memory snapshot before the caller gets an answer, so the next
 * `tools/call` on this instance is denied. Other instances sharing a PostgreSQL store hear of it
 * at once by NOTIFY (sent in the same transaction as the change, delivered at commit, LISTENed on
 * one dedicated connection) and reload; they also poll one row (the switch revision, bumped in the
 * same transaction) every `refreshMs`, which covers a dropped LISTEN connection.
 *
 * Audit policy: an action that takes access away is applied first and audited after (an audit
 * outage must never delay stopping an attack; a failed record is logged as an error); an action
 * that gives access back is audited first and refused when the record cannot be written.
 */
export class ControlService implements SecurityControl {
  readonly #revoker: Revoker;
  #timer?: NodeJS.Timeout;
  #refreshing?: Promise<void>;
  /** A change was announced while a refresh was already reading: read once more after it. */
  #refreshAgain = false;
  #unsubscribe?: Promise<(() => Promise<void>) | undefined>;

  constructor(private readonly opts: ControlServiceOptions) {
    this.#revoker = new Revoker(opts);
  }

  get snapshot(): SwitchSnapshot {
    return this.opts.snapshot;
  }

  /** Loads the switches in force and, for a shared store, starts watching the revision. */
  async start(): Promise<void> {
    this.#unsubscribe ??= this.opts.store
      .onKillSwitchChange(() => this.#announced())
      .catch((e: unknown) => {
        this.opts.logger.warn("cannot LISTEN for kill switch changes; other instances' changes arrive by the poll", { error: toGatewayError(e).message });
        return undefined;
      });
    await this.#unsubscribe;
    await this.refresh(true);
    const every = this.opts.refreshMs ?? (this.opts.store.engine === 'postgres' ? 500 : 0);
    if (every > 0 && !this.#timer) {
      this.#timer = setInterval(
        () =>
          void this.refresh().catch((e: unknown) =>
            this.opts.logger.warn('kill switch refresh failed; keeping the last known switches', { error: toGatewayError(e).message }),
          ),
        every,
      );
      this.#timer.unref();
    }
  }

  /** Re-reads the switches when the store's revision is newer than the snapshot's. */
  refresh(force = false): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        if (!force && (await this.opts.store.killSwitchRevision()) <= this.opts.snapshot.revision) return;
        const { revision, switches } = await this.opts.store.listKillSwitches();
        const added = this.opts.snapshot.replace(switches, revision);
        // Set elsewhere: drop what this instance cached for it (sessions were revoked by the setter).
        if (added && !force) for (const s of added) this.#revoker.purgeLocalInBackground(s.switch);
      } finally {
        this.#refreshing = undefined;
        if (this.#refreshAgain) {
          this.#refreshAgain = false;
          queueMicrotask(() => this.#announced());
        }
      }
    })();
    return this.#refreshing;
  }

  /** A change was announced (this store object, or NOTIFY from another instance). */
  #announced(): void {
    // A refresh already reading may have read before this change committed: read again after it.
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    void this.refresh().catch((e: unknown) =>
      this.opts.logger.warn('kill switch refresh failed; keeping the last known switches', { error: toGatewayError(e).message }),
    );
  }

  /** Stops the revision poll and the change notifications. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    void unsubscribe?.then((stop) => stop?.()).catch(() => undefined);
  }

  /** Resolves once the background work started so far (downstream revocations) has settled. */
  idle(): Promise<void> {
    return this.#revoker.idle();
  }

  /** Called with the ids of user sessions revoked here (serve closes their MCP sessions). */
  onSessionsRevoked(listener: (sessionIds: string[]) => void | Promise<void>): () => void {
    return this.#revoker.onSessionsRevoked(listener);
  }

  listSwitches(): SwitchState[] {
    return this.opts.snapshot.list();
  }

  getSwitch(s: KillSwitch): SwitchState | undefined {
    return this.opts.snapshot.get(s);
  }

  /** Sets (or re-sets with a new reason) a kill switch and revokes what it covers. */
  async setSwitch(s: KillSwitch, reason: string, actor: Actor): Promise<SetSwitchResult> {
    const state: SwitchState = { switch: s, reason, actor, since: this.opts.deps.now() };
    const { previous, revision } = await this.opts.store.putKillSwitch(switchKey(s), state);
    this.opts.snapshot.put(state, revision); // in force from here on, before anything else is awaited
    this.opts.logger.warn('kill switch set', { switch: describeSwitch(s), reason });
    const revoked = await this.#revoker.revokeFor(s);
    await this.#audit(
      {
        ...switchTargets(s),
        actor,
        action: 'switch.set',
        target: { switch: s, label: describeSwitch(s) },
        reason,
        before: previous ?? null,
        after: state,
        effect: revoked,
      },
      false,
    );
    return { state, ...(previous ? { previous } : {}), revoked };
  }

  /** Lifts a switch; undefined when it was not set. Refused (audit_unavailable) when the audit log cannot record it. */
  async liftSwitch(s: KillSwitch, reason: string, actor: Actor): Promise<SwitchState | undefined> {
    const key = switchKey(s);
    const current = (await this.opts.store.listKillSwitches()).switches.find((x) => switchKey(x.switch) === key);
    if (!current) {
      this.opts.snapshot.remove(s, this.opts.snapshot.revision);
      return undefined;
    }
    await this.#audit(
      { ...switchTargets(s), actor, action: 'switch.lift', target: { switch: s, label: describeSwitch(s) }, reason, before: current, after: null },
      true,
    );
    // Only the switch we read and recorded: if it was set again in between (another admin or
    // instance), that newer decision stays in force, and the record says the lift did not happen.
    const { previous, revision } = await this.opts.store.deleteKillSwitch(key, current.since);
    if (!previous) {
      const now = (await this.opts.store.listKillSwitches()).switches.find((x) => switchKey(x.switch) === key);
      await this.#audit(
        {
          ...switchTargets(s),
          actor,
          action: 'switch.lift_superseded',
          target: { switch: s, label: describeSwitch(s) },
          reason: 'set again while being lifted; left in force',
          before: now ?? null,
          after: now ?? null,
        },
        false,
      ).catch(() => {});
      this.opts.logger.warn('kill switch set again while being lifted; left in force', { switch: describeSwitch(s) });
      return undefined;
    }
    this.opts.snapshot.remove(s, revision);
    this.opts.logger.warn('kill switch lifted', { switch: describeSwitch(s), reason });
    return previous ?? current;
  }

  async disableUser(user: UserRef, reason: string, actor: Actor): Promise<RevocationSummary> {
    return (await this.setSwitch({ kind: 'user', user: { iss: user.iss, sub: user.sub } }, reason, actor)).revoked;
  }

  async enableUser(user: UserRef, reason: string, actor: Actor, eventTime?: number): Promise<boolean | 'stale'> {
    const s: KillSwitch = { kind: 'user', user: { iss: user.iss, sub: user.sub } };
    if (eventTime !== undefined) {
      // Read from the store, not the snapshot: a switch set on another instance a moment ago counts.
      const key = switchKey(s);
      const current = (await this.opts.store.listKillSwitches()).switches.find((x) => switchKey(x.switch) === key);
      if (current && isNewerThan(current, eventTime)) return 'stale';
    }
    return (await this.liftSwitch(s, reason, actor)) !== undefined;
  }

  /**
   * Deprovisioning (src/scim): sets the user switch unless one is in force already, whoever set it.
   * An admin's or a security event's switch stays theirs, so that a later re-provisioning, which
   * lifts only a switch of its own, cannot undo it.
   */
  async disableUserUnlessSet(
    user: UserRef,
    reason: string,
    actor: Actor,
  ): Promise<{ set: true; revoked: RevocationSummary } | { set: false; existing: SwitchState }> {
    const existing = await this.#storedUserSwitch(user);
    if (existing) return { set: false, existing };
    return { set: true, revoked: await this.disableUser(user, reason, actor) };
  }

  /**
   * Re-provisioning (src/scim): lifts the user switch only when `setBy` accepts the actor that set
   * it. 'kept': a switch of someone else (or set again meanwhile) stays in force.
   */
  async enableUserIfSetBy(user: UserRef, reason: string, actor: Actor, setBy: (a: Actor) => boolean): Promise<'lifted' | 'not_set' | 'kept'> {
    const existing = await this.#storedUserSwitch(user);
    if (!existing) return 'not_set';
    if (!setBy(existing.actor)) return 'kept';
    return (await this.liftSwitch(existing.switch, reason, actor)) ? 'lifted' : 'kept';
  }

  /** The user's switch as the store has it (set on another instance a moment ago counts). */
  async #storedUserSwitch(user: UserRef): Promise<SwitchState | undefined> {
    const key = switchKey({ kind: 'user', user: { iss: user.iss, sub: user.sub } });
    return (await this.opts.store.listKillSwitches()).switches.find((x) => switchKey(x.switch) === key);
  }

  /** Revokes the user's gateway sessions, refresh tokens and cached downstream tokens without blocking them. */
  async revokeUser(user: UserRef, reason: string, actor: Actor): Promise<RevocationSummary> {
    const s: KillSwitch = { kind: 'user', user: { iss: user.iss, sub: user.sub } };
    const revoked = await this.#revoker.revokeFor(s);
    await this.#audit({ ...switchTargets(s), actor, action: 'user.revoke', target: { user: s.user }, reason, effect: revoked }, false);
    return revoked;
  }

  /** Active gateway sessions with the agents holding live grants in them, oldest first. */
  listSessions(): Promise<SessionView[]> {
    return listSessionViews(this.opts.store);
  }

  /** Signs one session out (its refresh tokens die with it) and drops its user's cached downstream tokens. */
  async revokeSession(id: string, reason: string, actor: Actor): Promise<{ session: SessionView; revoked: RevocationSummary } | undefined> {
    const session = await this.opts.store.getUserSession(id);
    if (!session || session.revokedAt !== undefined) return undefined;
    const refreshTokens = await this.opts.store.revokeRefreshTokensOf({ sessionId: id }, this.opts.deps.now());
    const revokedNow = await this.opts.store.revokeUserSession(id, this.opts.deps.now());
    const user = { iss: session.iss, sub: session.sub };
    const dropped = this.opts.broker.drop({ user });
    this.#revoker.revokeDownstream(dropped);
    await this.#revoker.notifyRevoked(revokedNow ? [id] : []);
    const revoked: RevocationSummary = { downstreamTokens: dropped.length, sessions: revokedNow ? 1 : 0, refreshTokens };
    const view: SessionView = { ...sessionUser(session), agents: [] };
    await this.#audit(
      { user: view.user, actor, action: 'session.revoke', target: { sessionId: id }, reason, before: view, after: null, effect: revoked },
      false,
    );
    return { session: view, revoked };
  }

  /** Appends an admin_action record; `failClosed` rethrows (the caller then refuses the action). */
  async #audit(event: AdminActionInput, failClosed: boolean): Promise<void> {
    await recordAdminAction(this.opts.audit, event, failClosed ? undefined : this.opts.logger);
  }
}

/**
 * Was the switch set after `eventTime` (epoch ms)? A switch set by a security event is dated by that
 * SET's `iat`, on the IdP's clock like `eventTime`: its arrival time would make an enable issued
 * soon after the disable look stale whenever delivery lagged (a poll interval, push retries).
 * Compared in whole seconds, the resolution of `iat` (RFC 7519 §2 NumericDate): within the same
 * second the order is unknown and the enable lifts.
 */
function isNewerThan(state: SwitchState, eventTime: number): boolean {
  const setAt = state.actor.kind === 'security_event' && typeof state.actor.iat === 'number' ? state.actor.iat * 1000 : state.since;
  return Math.floor(eventTime / 1000) < Math.floor(setAt / 1000);
}
