import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryAudit, verifyAuditDir } from '../../src/audit/index.js';
import type { UserSession } from '../../src/store/index.js';
import { AGENT_A, AGENT_B, startAdminHarness, type AdminHarness } from '../admin/harness.js';

/**
 * Each kill switch, end to end over real HTTP on loopback against the demo enterprise: set it with
 * the admin API, and the very next tools/call is denied (kill_switch, audited with the switch in
 * the reason), the cached downstream token is gone where the switch covers it, users' sessions are
 * revoked; lifting it restores access.
 */

let h: AdminHarness;
let alice: UserSession;
let calendarUri: string;
const FREE_SLOTS = ['calendar_free_slots', { date: '2025-12-01' }] as const;

beforeAll(async () => {
  h = await startAdminHarness();
  alice = await h.signIn('alice');
  calendarUri = h.config.current.config.resources.calendar!.resource;
});
afterAll(() => h?.close());
afterEach(async () => {
  // A failed case must not leave its switch to deny the next one.
  for (const s of h.control.listSwitches()) await h.control.liftSwitch(s.switch, 'test cleanup', { kind: 'admin', via: 'token' });
});

/** Is alice's calendar token in the broker's cache? (drop returns it, so put it back by minting again.) */
const cachedFor = (uri: string) => h.gateway.broker.drop({ user: { iss: alice.iss, sub: alice.sub }, resource: uri }).length;

describe('kill switches: the next call is denied at once, lifting restores access', () => {
  it.each([
    // kind, admin API path, label in the denial, purges alice's cached calendar token, revokes alice's sessions, alice through agent B
    ['user', '/switches/user/u-alice', 'user "u-alice"', true, true, 'signed out'],
    ['agent', `/switches/agent/${AGENT_A.clientId}`, `agent "${AGENT_A.clientId}"`, false, false, 'served'],
    ['resource', '/switches/resource/calendar', 'resource "calendar"', true, false, 'denied'],
    ['connection', `/switches/connection/${AGENT_A.clientId}/calendar`, `connection "${AGENT_A.clientId}" -> "calendar"`, false, false, 'served'],
    ['all', '/switches/all', 'all (read-only mode)', true, false, 'denied'],
  ] as const)('%s', async (kind, path, label, purges, revokesSession, agentB) => {
    let session = await h.signIn('alice');
    let tokenA = await h.token(session, AGENT_A);
    const tokenB = await h.token(await h.signIn('alice'), AGENT_B);

    // Warm: the call succeeds and leaves a calendar token in the cache.
    expect(await h.call(tokenA, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
    const before = h.gateway.broker.stats.tokenExchanges;
    expect(await h.call(tokenA, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
    expect(h.gateway.broker.stats.tokenExchanges).toBe(before); // served from the cache

    const set = await h.api('PUT', path, { body: { reason: `test ${kind}` } });
    expect(set.status).toBe(201);
    const setBody = await set.json();
    expect(setBody.switch).toMatchObject({
      label: expect.stringContaining(label.split(' ')[0]!),
      reason: `test ${kind}`,
      actor: { kind: 'admin', via: 'token' },
    });

    // The cached token is gone exactly where the switch covers it (agent/connection: denial is enough).
    expect(cachedFor(calendarUri)).toBe(purges ? 0 : 1);

    if (revokesSession) {
      // The user's gateway sessions are revoked: the agent must sign in again ...
      expect((await h.store.getUserSession(session.id))?.revokedAt).toBeDefined();
      expect(setBody.revoked.sessions).toBeGreaterThanOrEqual(1);
      const refused = await h.call(tokenA, ...FREE_SLOTS);
      expect(refused.status).toBe(401);
      // ... and after signing in again the call is still denied by the switch.
      session = await h.signIn('alice');
      tokenA = await h.token(session, AGENT_A);
    }

    const denied = await h.call(tokenA, ...FREE_SLOTS);
    expect(denied).toMatchObject({ status: 200, isError: true });
    expect(denied.text).toContain('[kill_switch]');
    expect(denied.text).toContain(`kill switch ${label}`);
    expect(denied.text).toContain(`test ${kind}`);

    const b = await h.call(tokenB, ...FREE_SLOTS);
    expect(b.status === 401 ? 'signed out' : b.isError ? 'denied' : 'served').toBe(agentB);

    // The denial is audited by the gateway's deny path, naming the switch.
    await h.gateway.flush();
    const records = await h.env.audit();
    const denial = records.filter((r) => r.type === 'tool_call' && r.decision === 'deny' && r.agent?.clientId === AGENT_A.clientId).at(-1)!;
    expect(denial).toMatchObject({
      phase: 'decision',
      decision: 'deny',
      tool: 'calendar_free_slots',
      user: { sub: 'u-alice' },
      agent: { clientId: AGENT_A.clientId },
      outcome: { ok: false, error: 'kill_switch' },
    });
    expect(denial.reason).toBe(`kill switch ${label}${kind === 'user' ? ` (${alice.iss})` : ''} is set: test ${kind}`);
    const setRecord = records.filter((r) => r.type === 'admin_action' && r.action === 'switch.set').at(-1)!;
    expect(setRecord).toMatchObject({
      actor: { kind: 'admin', via: 'token' },
      target: { label: setBody.switch.label },
      before: null,
      after: { reason: `test ${kind}` },
    });

    // Lifting restores access, with a fresh token where the old one was purged.
    const lift = await h.api('DELETE', path, { body: { reason: 'resolved' } });
    expect(lift.status).toBe(200);
    expect((await lift.json()).lifted.label).toBe(setBody.switch.label);
    const exchanges = h.gateway.broker.stats.tokenExchanges;
    expect(await h.call(tokenA, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
    expect(h.gateway.broker.stats.tokenExchanges - exchanges).toBe(purges ? 1 : 0);
    expect((await h.api('DELETE', path)).status).toBe(404);
    expect(h.control.listSwitches()).toEqual([]);
  });

  it('re-setting a switch answers 200 with the previous state; the list shows it; unknown resources are refused', async () => {
    expect((await h.api('PUT', '/switches/resource/expenses', { body: { reason: 'first' } })).status).toBe(201);
    const again = await h.api('PUT', '/switches/resource/expenses', { body: { reason: 'second' } });
    expect(again.status).toBe(200);
    expect((await again.json()).previous).toMatchObject({ reason: 'first' });
    const list = await (await h.api('GET', '/switches')).json();
    expect(list.switches).toEqual([
      expect.objectContaining({ switch: { kind: 'resource', name: 'expenses' }, reason: 'second', label: 'resource "expenses"' }),
    ]);
    expect((await h.api('DELETE', '/switches/resource/expenses')).status).toBe(200);

    const bad = await h.api('PUT', '/switches/resource/nope');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'admin_invalid', issues: [{ path: 'name', message: expect.stringContaining('unknown resource "nope"') }] });
  });

  it('SecurityControl: disableUser denies and revokes, enableUser lifts (false when not disabled), revokeUser only revokes; all audited', async () => {
    const actor = {
      kind: 'security_event' as const,
      iss: alice.iss,
      jti: 'set-1',
      eventType: 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
    };
    const s = await h.signIn('alice');
    const summary = await h.control.disableUser({ iss: alice.iss, sub: alice.sub }, 'account disabled at the IdP', actor);
    expect(summary.sessions).toBeGreaterThanOrEqual(1);
    expect((await h.store.getUserSession(s.id))?.revokedAt).toBeDefined();
    const again = await h.signIn('alice');
    const denied = await h.call(await h.token(again), ...FREE_SLOTS);
    expect(denied.text).toContain('[kill_switch]');
    expect(await h.control.enableUser({ iss: alice.iss, sub: alice.sub }, 'account enabled', actor)).toBe(true);
    expect(await h.control.enableUser({ iss: alice.iss, sub: alice.sub }, 'account enabled', actor)).toBe(false);
    const fresh = await h.signIn('alice');
    expect(await h.call(await h.token(fresh), ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });

    const revoked = await h.control.revokeUser({ iss: alice.iss, sub: alice.sub }, 'session-revoked', { ...actor, eventType: 'session-revoked' });
    expect(revoked).toMatchObject({ downstreamTokens: 1 });
    expect((await h.store.getUserSession(fresh.id))?.revokedAt).toBeDefined();
    expect(h.control.listSwitches()).toEqual([]); // revoking does not block

    const actions = (await h.env.audit()).filter((r) => r.type === 'admin_action' && r.actor?.kind === 'security_event').map((r) => r.action);
    expect(actions).toEqual(['switch.set', 'switch.lift', 'user.revoke']);
    const verified = await verifyAuditDir(h.env.auditDir);
    expect(verified).toMatchObject({ ok: true });
    // `audit query --user` finds the actions on that user next to their calls.
    const types = new Set<string>();
    for await (const r of queryAudit(h.env.auditDir, { user: 'u-alice' })) types.add(`${r.type}:${String(r.action ?? r.decision ?? r.phase)}`);
    expect([...types]).toEqual(
      expect.arrayContaining(['admin_action:switch.set', 'admin_action:switch.lift', 'admin_action:user.revoke', 'tool_call:deny', 'tool_call:allow']),
    );
  });
});
