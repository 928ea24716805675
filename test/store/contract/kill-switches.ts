/** Kill switches and their revision (src/store/kill-switches.ts). */
import { describe, expect, it } from 'vitest';
import { T0, rid, type StoreFixture } from './fixture.js';

export function killSwitchesContract(fx: StoreFixture): void {
  const { reopen } = fx;
  describe('kill switches', () => {
    const actor = { kind: 'admin' as const, via: 'token' as const };
    it('put, replace and delete bump the revision; list reads switches with the revision', async () => {
      const sub = rid('user');
      const key = JSON.stringify(['user', 'https://idp.example', sub]);
      const state = { switch: { kind: 'user' as const, user: { iss: 'https://idp.example', sub } }, reason: 'left the company', actor, since: T0 };
      const r0 = await fx.store.killSwitchRevision();
      const put = await fx.store.putKillSwitch(key, state);
      expect(put).toEqual({ revision: r0 + 1 });
      const again = await fx.store.putKillSwitch(key, { ...state, reason: 'still gone', since: T0 + 1 });
      expect(again).toEqual({ previous: state, revision: r0 + 2 });
      const listed = await fx.store.listKillSwitches();
      expect(listed.revision).toBe(r0 + 2);
      expect(listed.switches).toContainEqual({ ...state, reason: 'still gone', since: T0 + 1 });
      const del = await fx.store.deleteKillSwitch(key);
      expect(del).toEqual({ previous: { ...state, reason: 'still gone', since: T0 + 1 }, revision: r0 + 3 });
      expect(await fx.store.deleteKillSwitch(key)).toEqual({ revision: r0 + 3 });
      expect(
        (await fx.store.listKillSwitches()).switches.find((s) => s.reason === 'still gone' && 'user' in s.switch && s.switch.user.sub === sub),
      ).toBeUndefined();
    });

    it('a conditional delete lifts only the switch set at that time, not one set again since', async () => {
      const k = rid('agent');
      const key = JSON.stringify(['agent', k]);
      const state = { switch: { kind: 'agent' as const, clientId: k }, reason: 'first', actor, since: T0 };
      await fx.store.putKillSwitch(key, state);
      await fx.store.putKillSwitch(key, { ...state, reason: 'set again', since: T0 + 5 });
      const r = await fx.store.killSwitchRevision();
      expect(await fx.store.deleteKillSwitch(key, T0)).toEqual({ revision: r });
      expect((await fx.store.listKillSwitches()).switches).toContainEqual({ ...state, reason: 'set again', since: T0 + 5 });
      expect(await fx.store.deleteKillSwitch(key, T0 + 5)).toEqual({ previous: { ...state, reason: 'set again', since: T0 + 5 }, revision: r + 1 });
    });

    it('concurrent changes each get their own revision', async () => {
      const r0 = await fx.store.killSwitchRevision();
      const keys = [1, 2, 3, 4].map(() => rid('agent'));
      const results = await Promise.all(
        keys.map((k) => fx.store.putKillSwitch(JSON.stringify(['agent', k]), { switch: { kind: 'agent', clientId: k }, reason: 'r', actor, since: T0 })),
      );
      expect(results.map((r) => r.revision).sort((a, b) => a - b)).toEqual([r0 + 1, r0 + 2, r0 + 3, r0 + 4]);
      for (const k of keys) await fx.store.deleteKillSwitch(JSON.stringify(['agent', k]));
    });

    it('survive a restart', async () => {
      const k = rid('res');
      await fx.store.putKillSwitch(JSON.stringify(['resource', k]), { switch: { kind: 'resource', name: k }, reason: 'breach', actor, since: T0 });
      await reopen();
      expect((await fx.store.listKillSwitches()).switches).toContainEqual({ switch: { kind: 'resource', name: k }, reason: 'breach', actor, since: T0 });
      await fx.store.deleteKillSwitch(JSON.stringify(['resource', k]));
    });
  });
}
