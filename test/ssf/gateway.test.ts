import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditDir } from '../../src/audit/index.js';
import { defaultDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/log.js';
import { createSsfReceiver, EVENT_TYPES, lookupUsersInStore, SSF_PUSH_PATH, type SsfReceiver } from '../../src/ssf/index.js';
import { listenLoopback } from '../server/http/harness.js';
import { startAdminHarness, type AdminHarness } from '../admin/harness.js';

/**
 * The whole path the issue asks for: the demo IdP's admin deactivates a user, the IdP pushes RISC
 * account-disabled to the gateway's receiver, the real ControlService disables the user, and that
 * user's very next tool call is denied by the kill switch; re-activating lifts it. Everything is
 * in the same hash-chained audit log.
 */

const PUSH_TOKEN = 'ssf-push-token-for-this-test';
let h: AdminHarness;
let receiver: SsfReceiver;
let listener: Awaited<ReturnType<typeof listenLoopback>>;

beforeAll(async () => {
  h = await startAdminHarness((c) => {
    c.ssf = { transmitter: c.idp.issuer, audience: 'urn:xaa-gateway:test', pushToken: { env: 'SSF_TEST_PUSH_TOKEN' } };
  });
  receiver = createSsfReceiver({
    config: h.config,
    control: h.control,
    audit: h.audit,
    deps: defaultDeps,
    logger: silentLogger,
    lookupUserByEmail: lookupUsersInStore(h.store),
    env: { SSF_TEST_PUSH_TOKEN: PUSH_TOKEN },
  });
  listener = await listenLoopback();
  listener.setApp(receiver.routes);
  h.env.demo.ssf.createStream({
    aud: 'urn:xaa-gateway:test',
    delivery: { method: 'push', endpointUrl: `${listener.origin}${SSF_PUSH_PATH}`, authorizationHeader: `Bearer ${PUSH_TOKEN}` },
  });
});
afterAll(async () => {
  await receiver?.stop();
  await listener?.close();
  await h?.close();
});

const FREE_SLOTS = ['calendar_free_slots', { date: '2025-12-01' }] as const;

describe('security events from the demo IdP drive the real kill switches', () => {
  it('account-disabled denies the next call at once; account-enabled restores access', async () => {
    const session = await h.signIn('alice');
    const token = await h.token(session);
    expect(await h.call(token, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });

    h.env.demo.control.setUserActive('alice', false);
    await h.env.demo.ssf.flush();
    expect(h.env.demo.ssf.deliveries.at(-1)).toMatchObject({ event: EVENT_TYPES.accountDisabled, status: 202 });

    // The session the agent used is revoked at once (401), and the user switch stays set until lifted.
    expect((await h.call(token, ...FREE_SLOTS)).status).toBe(401);
    expect(h.control.listSwitches()).toEqual([expect.objectContaining({ switch: { kind: 'user', user: { iss: h.env.demo.urls.idp, sub: 'u-alice' } } })]);

    h.env.demo.control.setUserActive('alice', true);
    await h.env.demo.ssf.flush();
    expect(h.env.demo.ssf.deliveries.at(-1)).toMatchObject({ event: EVENT_TYPES.accountEnabled, status: 202 });
    expect(h.control.listSwitches()).toEqual([]);
    const again = await h.token(await h.signIn('alice'));
    expect(await h.call(again, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
  });

  it('session-revoked ("sign out everywhere", email subject) signs the user out without blocking a new sign-in', async () => {
    const session = await h.signIn('bob');
    const token = await h.token(session);
    expect(await h.call(token, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
    await h.env.demo.ssf.emit('bob', 'session-revoked', { subjectFormat: 'email' });
    expect(h.env.demo.ssf.deliveries.at(-1)).toMatchObject({ status: 202 });
    expect((await h.store.getUserSession(session.id))?.revokedAt).toBeDefined();
    expect((await h.call(token, ...FREE_SLOTS)).status).toBe(401);
    expect(h.control.listSwitches()).toEqual([]);
    expect(await h.call(await h.token(await h.signIn('bob')), ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });
  });

  it('every event and its effect are in the hash chain, which verifies', async () => {
    await h.gateway.flush();
    const records = await h.env.audit();
    const events = records.filter((r) => r.type === 'security_event');
    expect(events.map((r) => [r.securityEvent.eventType, r.securityEvent.effect, r.user.sub, r.outcome.ok])).toEqual([
      [EVENT_TYPES.accountDisabled, 'disable_user', 'u-alice', true],
      [EVENT_TYPES.accountEnabled, 'enable_user', 'u-alice', true],
      [EVENT_TYPES.sessionRevoked, 'revoke_user', 'u-bob', true],
    ]);
    // ControlService's own records name the security event as the actor.
    const actions = records.filter((r) => r.type === 'admin_action' && r.actor?.kind === 'security_event');
    expect(actions.map((r) => [r.action, r.actor.eventType])).toEqual([
      ['switch.set', EVENT_TYPES.accountDisabled],
      ['switch.lift', EVENT_TYPES.accountEnabled],
      ['user.revoke', EVENT_TYPES.sessionRevoked],
    ]);
    expect((await verifyAuditDir(h.config.current.auditDir)).ok).toBe(true);
  });
});
