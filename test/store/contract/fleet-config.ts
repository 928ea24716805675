/** The fleet config shared by the instances (src/store/fleet-config.ts). */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import type { FleetConfigDoc } from '../../../src/store/index.js';
import { T0, type StoreFixture } from './fixture.js';

export function fleetConfigContract(fx: StoreFixture): void {
  const { raw, reopen } = fx;
  describe('fleet config (tools, resources, upstreams shared by the instances)', () => {
    const doc = (tools: string[]): FleetConfigDoc => ({
      tools: tools.map((name) => ({ name })),
      resources: { cal: { resource: 'https://cal.example/' } },
      upstreams: [],
    });

    it('seeds once; a second seed keeps the first; revision 0 means none', async () => {
      await raw('DELETE FROM fleet_config');
      expect(await fx.store.getFleetConfig()).toBeUndefined();
      expect(await fx.store.fleetConfigRevision()).toBe(0);
      const first = await fx.store.seedFleetConfig(doc(['a']), 'seeded from A');
      expect(first).toMatchObject({ seeded: true, record: { revision: 1, doc: doc(['a']), updatedAt: T0, updatedBy: 'seeded from A' } });
      expect(first.record.hash).toMatch(/^[0-9a-f]{64}$/);
      const second = await fx.store.seedFleetConfig(doc(['b']), 'seeded from B');
      expect(second).toEqual({ seeded: false, record: first.record });
      expect(await fx.store.fleetConfigRevision()).toBe(1);
    });

    it('an update bumps the revision and announces it; an equal doc is no new revision; a throw changes nothing', async () => {
      await raw('DELETE FROM fleet_config');
      await fx.store.seedFleetConfig(doc(['a']), 'seed');
      let heard = 0;
      const stop = await fx.store.onFleetConfigChange(() => heard++);
      try {
        const seen: Array<number | undefined> = [];
        const r = await fx.store.updateFleetConfig(async (current) => {
          seen.push(current?.revision);
          return { doc: doc(['a', 'b']), result: 'ok' };
        }, 'admin edit');
        expect(r).toMatchObject({ changed: true, result: 'ok', record: { revision: 2, doc: doc(['a', 'b']), updatedBy: 'admin edit' } });
        expect(seen).toEqual([1]);
        // At once from this store object; on PostgreSQL once more by its own NOTIFY (delivered at commit).
        const expected = fx.store.engine === 'postgres' ? 2 : 1;
        await expect.poll(() => heard, { timeout: 5_000, interval: 10 }).toBe(expected);
        const same = await fx.store.updateFleetConfig(async () => ({ doc: doc(['a', 'b']), result: undefined }), 'again');
        expect(same).toMatchObject({ changed: false, record: { revision: 2, updatedBy: 'admin edit' } });
        const refused = await fx.store
          .updateFleetConfig(async () => {
            throw new GatewayError('admin_conflict', 'stale');
          }, 'x')
          .catch((e: unknown) => e);
        expect(refused).toMatchObject({ code: 'admin_conflict' });
        expect(await fx.store.getFleetConfig()).toMatchObject({ revision: 2, doc: doc(['a', 'b']) });
        expect(await fx.store.fleetConfigRevision()).toBe(2); // a round trip: a NOTIFY would have arrived before it
        expect(heard).toBe(expected);
      } finally {
        await stop();
      }
    });

    it('concurrent updates are serialized: each sees the revision the previous one wrote', async () => {
      await raw('DELETE FROM fleet_config');
      await fx.store.seedFleetConfig(doc([]), 'seed');
      const seen: number[] = [];
      await Promise.all(
        ['x', 'y', 'z'].map((name) =>
          fx.store.updateFleetConfig(async (current) => {
            seen.push(current!.revision);
            return { doc: { ...current!.doc, tools: [...current!.doc.tools, { name }] }, result: undefined };
          }, name),
        ),
      );
      expect(seen.sort()).toEqual([1, 2, 3]);
      const rec = await fx.store.getFleetConfig();
      expect(rec?.revision).toBe(4);
      expect((rec!.doc.tools as Array<{ name: string }>).map((t) => t.name).sort()).toEqual(['x', 'y', 'z']);
      await reopen();
      expect(await fx.store.getFleetConfig()).toEqual(rec);
    });
  });
}
