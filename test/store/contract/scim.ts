/** SCIM resources, per client namespace, written only at the version read (src/store/scim.ts). */
import { describe, expect, it } from 'vitest';
import { T0, rid, type StoreFixture } from './fixture.js';

export function scimContract(fx: StoreFixture): void {
  describe('SCIM resources: namespaces, case-insensitive userName, conditional writes', () => {
    const user = (userName: string, externalId?: string) => ({
      name: userName,
      ...(externalId ? { externalId } : {}),
      resource: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, active: true },
    });

    it('a table of writes: create, conflict, find, update at the read version, stale version, delete', async () => {
      const client = rid('okta');
      const other = rid('entra');
      const id = rid('u');
      const s = fx.store;
      const steps: Array<[string, () => Promise<unknown>, unknown]> = [
        ['create', async () => (await s.createScimResource(client, 'User', id, user('Ann@Acme.example', 'ext-1'), T0)).ok, true],
        [
          'another userName differing only in case is a conflict',
          async () => s.createScimResource(client, 'User', rid('u'), user('ann@acme.example'), T0),
          { ok: false, reason: 'uniqueness' },
        ],
        [
          'the same userName in another client is fine',
          async () => (await s.createScimResource(other, 'User', rid('u'), user('ann@acme.example'), T0)).ok,
          true,
        ],
        [
          "a group may share a user's name",
          async () => (await s.createScimResource(client, 'Group', rid('g'), { name: 'ann@acme.example', resource: { members: [] } }, T0)).ok,
          true,
        ],
        ['found by name, any case', async () => (await s.findScimResources(client, 'User', { name: 'ANN@acme.EXAMPLE' })).map((r) => r.id), [id]],
        ['found by externalId, exact', async () => (await s.findScimResources(client, 'User', { externalId: 'ext-1' })).map((r) => r.id), [id]],
        ['not by another case of externalId', async () => (await s.findScimResources(client, 'User', { externalId: 'EXT-1' })).length, 0],
        ['update at version 1', async () => (await s.updateScimResource(client, 'User', id, 1, user('ann@acme.example', 'ext-2'), T0 + 1)).ok, true],
        [
          'update at stale version 1',
          async () => s.updateScimResource(client, 'User', id, 1, user('x@acme.example'), T0 + 2),
          { ok: false, reason: 'version' },
        ],
        [
          'read: version 2, updated time, new externalId',
          async () => {
            const r = (await s.getScimResource(client, 'User', id))!;
            return [r.version, r.updated, r.created, r.externalId, r.name];
          },
          [2, T0 + 1, T0, 'ext-2', 'ann@acme.example'],
        ],
        [
          'update of a missing id',
          async () => s.updateScimResource(client, 'User', rid('nope'), 1, user('y@acme.example'), T0),
          { ok: false, reason: 'not_found' },
        ],
        ['delete at a stale version', async () => s.deleteScimResource(client, 'User', id, 1), { ok: false, reason: 'version' }],
        ['delete at the current version', async () => (await s.deleteScimResource(client, 'User', id, 2)).ok, true],
        ['delete again', async () => s.deleteScimResource(client, 'User', id), { ok: false, reason: 'not_found' }],
        ['its userName is free again', async () => (await s.createScimResource(client, 'User', rid('u'), user('ann@acme.example'), T0)).ok, true],
      ];
      const got: unknown[] = [];
      for (const [, step] of steps) got.push(await step());
      expect(steps.map(([name], i) => [name, got[i]])).toEqual(steps.map(([name, , want]) => [name, want]));
    });

    it('two writers at the same version: exactly one wins', async () => {
      const client = rid('okta');
      const id = rid('u');
      await fx.store.createScimResource(client, 'User', id, user('race@acme.example'), T0);
      const results = await Promise.all([1, 2, 3].map((n) => fx.store.updateScimResource(client, 'User', id, 1, user(`race${n}@acme.example`), T0 + n)));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok).map((r) => (r as { reason: string }).reason)).toEqual(['version', 'version']);
    });
  });
}
