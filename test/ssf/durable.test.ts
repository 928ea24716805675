import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigStore } from '../../src/config/index.js';
import { ControlService, SwitchSnapshot, type SecurityControl } from '../../src/control/index.js';
import { silentLogger } from '../../src/log.js';
import { createSsfReceiver, EVENT_TYPES, SSF_PUSH_PATH, type SsfReceiver } from '../../src/ssf/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { ENV, FakeControl, FakeTransmitter, MemorySink, pushInit, runtimeWith } from './helpers.js';

/**
 * The receiver's memory of acted-on `jti`s in the gateway's store (one PGlite for the file): a SET
 * is acted on once across a restart (a new receiver on the same store) and across instances (two
 * receivers on one store), a failed act lets the redelivery retry, and a claim left by a process
 * that died is taken over after its lease. Also the ordering check: an account-enabled older than
 * the user switch in force does not lift it.
 */

const URL_ = `https://gw.test${SSF_PUSH_PATH}`;
const MAX_AGE = 3600;
let dataDir: string;
let store: Store;
let t: FakeTransmitter;
const receivers: SsfReceiver[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'xaa-ssf-durable-'));
  store = await openStore({ dataDir, encryptionKey: randomBytes(32).toString('base64') });
});
afterAll(async () => {
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});
beforeEach(async () => {
  t = await FakeTransmitter.create();
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

/** A receiver as a gateway process would create it: its own memory, the shared store unless `store: false`. */
function receiver(control: SecurityControl, audit: MemorySink, opts: { store?: false; waitMs?: number } = {}): SsfReceiver {
  const r = createSsfReceiver({
    config: { current: runtimeWith({ transmitter: t.issuer, maxAgeSeconds: MAX_AGE }) },
    control,
    audit,
    deps: { fetch: t.fetch, now: () => Date.now() },
    logger: silentLogger,
    env: ENV,
    ...(opts.store === false ? {} : { store }),
    ...(opts.waitMs === undefined ? {} : { jtis: { waitMs: opts.waitMs } }),
  });
  receivers.push(r);
  return r;
}

const push = async (r: SsfReceiver, set: string) => {
  const res = await r.routes.request(URL_, pushInit(set));
  return { status: res.status, body: await res.text() };
};
const disableSet = (jti: string, extra: Record<string, unknown> = {}) => t.sign({ jti, events: { [EVENT_TYPES.accountDisabled]: {} }, ...extra });
const nowSec = () => Math.floor(Date.now() / 1000);

describe('once per jti, across restarts and instances (the store)', () => {
  it('acted on, then a new receiver on the same store (a restart) gets it again: 202, not acted on, not audited', async () => {
    const jti = randomUUID();
    const set = await disableSet(jti);
    const before = { control: new FakeControl(), audit: new MemorySink() };
    expect(await push(receiver(before.control, before.audit), set)).toEqual({ status: 202, body: '' });
    expect(before.control.calls.map((c) => c.method)).toEqual(['disableUser']);
    expect(before.audit.records).toHaveLength(1);

    const after = { control: new FakeControl(), audit: new MemorySink() };
    expect(await push(receiver(after.control, after.audit), set)).toEqual({ status: 202, body: '' });
    expect(after.control.calls).toEqual([]);
    expect(after.audit.records).toEqual([]);

    // Memory only (no store): the restarted receiver cannot know, and acts again.
    const forgetful = { control: new FakeControl(), audit: new MemorySink() };
    expect((await push(receiver(forgetful.control, forgetful.audit, { store: false }), set)).status).toBe(202);
    expect(forgetful.control.calls.map((c) => c.method)).toEqual(['disableUser']);
  });

  it('two receivers on one store racing the same jti: acted on once, both 202 (the second waits for the first)', async () => {
    const set = await disableSet(randomUUID());
    const a = { control: new FakeControl(), audit: new MemorySink() };
    const b = { control: new FakeControl(), audit: new MemorySink() };
    // Acting is held until both deliveries are in: the second finds the claim in progress and waits.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    for (const c of [a.control, b.control]) {
      const disable = c.disableUser.bind(c);
      c.disableUser = async (...args) => {
        entered++;
        await gate;
        return disable(...args);
      };
    }
    const ra = receiver(a.control, a.audit);
    const rb = receiver(b.control, b.audit);
    const deliveries = Promise.all([push(ra, set), push(rb, set)]);
    await vi.waitFor(() => expect(entered).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    expect((await deliveries).map((d) => d.status)).toEqual([202, 202]);
    expect(entered).toBe(1);
    expect([...a.control.calls, ...b.control.calls].map((c) => c.method)).toEqual(['disableUser']);
    expect([...a.audit.records, ...b.audit.records]).toHaveLength(1);

    // Many at once, spread over both: still once.
    const again = await disableSet(randomUUID());
    const c = new FakeControl();
    const r1 = receiver(c, new MemorySink());
    const r2 = receiver(c, new MemorySink());
    expect((await Promise.all([r1, r2, r1, r2, r1, r2].map((r) => push(r, again)))).map((d) => d.status)).toEqual([202, 202, 202, 202, 202, 202]);
    expect(c.calls).toHaveLength(1);
  });

  it('a failed act releases the claim: the redelivery (here to another instance) is acted on', async () => {
    const set = await disableSet(randomUUID());
    const a = { control: new FakeControl(), audit: new MemorySink() };
    a.control.failNext = 1;
    const failed = await push(receiver(a.control, a.audit), set);
    expect(failed.status).toBe(503);
    expect(a.control.calls).toEqual([]);
    expect(a.audit.records).toEqual([expect.objectContaining({ outcome: { ok: false, error: 'store_unavailable' } })]);

    const b = { control: new FakeControl(), audit: new MemorySink() };
    expect((await push(receiver(b.control, b.audit), set)).status).toBe(202);
    expect(b.control.calls.map((c) => c.method)).toEqual(['disableUser']);
    expect(b.audit.records).toEqual([expect.objectContaining({ outcome: { ok: true }, securityEvent: expect.objectContaining({ effect: 'disable_user' }) })]);
  });

  it('a claim in progress elsewhere answers 503 after the wait; one abandoned past its lease (process died) is taken over', async () => {
    const expiresAt = Date.now() + MAX_AGE * 1000;
    const busy = randomUUID();
    expect(await store.claimSecurityEvent(t.issuer, busy, expiresAt, Date.now(), 120_000)).toBe('claimed');
    const control = new FakeControl();
    const audit = new MemorySink();
    const res = await push(receiver(control, audit, { waitMs: 60 }), await disableSet(busy));
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ description: 'the SET could not be processed now; deliver it again later' });
    expect(control.calls).toEqual([]);
    expect(audit.records).toEqual([]);

    const abandoned = randomUUID();
    expect(await store.claimSecurityEvent(t.issuer, abandoned, expiresAt, Date.now() - 10 * 60_000, 120_000)).toBe('claimed');
    expect((await push(receiver(control, audit), await disableSet(abandoned))).status).toBe(202);
    expect(control.calls.map((c) => [c.method, c.actor.kind === 'security_event' && c.actor.jti])).toEqual([['disableUser', abandoned]]);
  });
});

describe('ordering: an account-enabled older than the user switch in force does not lift it', () => {
  let control: ControlService;
  let audit: MemorySink;
  beforeEach(async () => {
    audit = new MemorySink();
    control = new ControlService({
      store,
      snapshot: new SwitchSnapshot(),
      broker: { drop: () => [] },
      config: new ConfigStore(runtimeWith({ transmitter: 'https://idp.test' })),
      audit,
      deps: { fetch: t.fetch, now: () => Date.now() },
      logger: silentLogger,
    });
    await control.start();
  });
  afterEach(() => control.close());

  // Each step: who acts and how many seconds before now the IdP issued it; all arrive now, in this order.
  type Step = { by: 'admin' } | { by: 'set'; event: 'disabled' | 'enabled'; ago: number };
  const cases: Array<{ name: string; steps: Step[]; stays: boolean; stale: boolean }> = [
    {
      name: 'an admin switch set now; an enable issued a minute ago',
      steps: [{ by: 'admin' }, { by: 'set', event: 'enabled', ago: 60 }],
      stays: true,
      stale: true,
    },
    { name: 'an admin switch set now; an enable issued now', steps: [{ by: 'admin' }, { by: 'set', event: 'enabled', ago: 0 }], stays: false, stale: false },
    {
      name: 'disable issued 40 s ago, then an enable issued 50 s ago (out of order)',
      steps: [
        { by: 'set', event: 'disabled', ago: 40 },
        { by: 'set', event: 'enabled', ago: 50 },
      ],
      stays: true,
      stale: true,
    },
    {
      // Ordered by the IdP's iat, not by arrival: both arriving late (a poll interval) must still lift.
      name: 'disable issued 40 s ago, enable issued 30 s ago, both arriving now',
      steps: [
        { by: 'set', event: 'disabled', ago: 40 },
        { by: 'set', event: 'enabled', ago: 30 },
      ],
      stays: false,
      stale: false,
    },
    {
      name: 'disable and enable issued in the same second',
      steps: [
        { by: 'set', event: 'disabled', ago: 20 },
        { by: 'set', event: 'enabled', ago: 20 },
      ],
      stays: false,
      stale: false,
    },
  ];

  it.each(cases)('$name -> switch stays: $stays', async ({ steps, stays, stale }) => {
    const user = { iss: t.issuer, sub: `u-${randomUUID().slice(0, 8)}` };
    const r = receiver(control, audit);
    for (const step of steps) {
      if (step.by === 'admin') await control.disableUser(user, 'left the company', { kind: 'admin', via: 'token' });
      else {
        const type = step.event === 'disabled' ? EVENT_TYPES.accountDisabled : EVENT_TYPES.accountEnabled;
        const set = await t.sign({ iat: nowSec() - step.ago, sub_id: { format: 'iss_sub', ...user }, events: { [type]: {} } });
        expect((await push(r, set)).status).toBe(202);
      }
    }
    const userSwitch = (await store.listKillSwitches()).switches.find((s) => s.switch.kind === 'user' && s.switch.user.sub === user.sub);
    expect(userSwitch !== undefined).toBe(stays);
    expect(control.getSwitch({ kind: 'user', user }) !== undefined).toBe(stays);
    const enabled = audit.records.filter((x) => x.type === 'security_event' && x.user?.sub === user.sub).at(-1);
    expect(enabled).toMatchObject(
      stale
        ? {
            reason: 'RISC account-enabled: ignored: stale, issued before the user switch in force was set; the switch stays',
            outcome: { ok: true },
            securityEvent: { eventType: EVENT_TYPES.accountEnabled, effect: 'ignored', lifted: false, stale: true },
          }
        : {
            reason: 'RISC account-enabled: user switch lifted',
            outcome: { ok: true },
            securityEvent: { eventType: EVENT_TYPES.accountEnabled, effect: 'enable_user', lifted: true },
          },
    );
    // A stale enable lifts nothing, so no switch.lift is audited.
    expect(
      audit.records.filter((x) => x.type === 'admin_action' && (x as { action?: string }).action === 'switch.lift' && x.user?.sub === user.sub),
    ).toHaveLength(stale ? 0 : 1);
    if (userSwitch) await control.liftSwitch(userSwitch.switch, 'test cleanup', { kind: 'admin', via: 'token' });
  });
});
