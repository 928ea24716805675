/** Schema and engine: the migrations applied, once. */
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../src/store/index.js';
import type { StoreFixture } from './fixture.js';

export function schemaContract(fx: StoreFixture): void {
  const { raw, reopen } = fx;
  describe('schema and engine', () => {
    it('reports its engine and records the applied migration', async () => {
      expect(['pglite', 'postgres']).toContain(fx.store.engine);
      const rows = await raw<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
      // The releases so far, in order (others are appended by later migrations).
      expect(rows.slice(0, 4).map((r) => r.name)).toEqual(['initial', 'admin_control', 'security_events', 'authorization_code_replay']);
      expect(rows.map((r) => r.name)).toContain('fleet_config');
    });

    it('migrations are idempotent: reopening applies nothing twice', async () => {
      await reopen();
      await reopen();
      const rows = await raw('SELECT version FROM schema_migrations');
      expect(rows).toHaveLength(MIGRATIONS.length);
    });
  });
}
