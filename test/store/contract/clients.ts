/** Clients and consents (src/store/clients.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function clientsContract(fx: StoreFixture): void {
  describe('clients and consents', () => {
    it('upserts, reads and deletes clients; an update keeps createdAt', async () => {
      const clientId = rid('https://agent.example/client');
      const c = {
        clientId,
        source: 'cimd' as const,
        clientName: 'Agent A',
        redirectUris: ['http://127.0.0.1:3000/cb', 'https://agent.example/cb'],
        tokenEndpointAuthMethod: 'none' as const,
        metadata: { client_uri: 'https://agent.example', grant_types: ['authorization_code', 'refresh_token'] },
        createdAt: T0,
        expiresAt: T0 + 60 * MIN,
      };
      await fx.store.upsertClient(c);
      expect(await fx.store.getClient(clientId)).toEqual({ ...c, clientSecretHash: undefined });
      await fx.store.upsertClient({ ...c, clientName: 'Agent A2', redirectUris: ['https://agent.example/cb2'], createdAt: T0 + 9, expiresAt: undefined });
      expect(await fx.store.getClient(clientId)).toMatchObject({
        clientName: 'Agent A2',
        redirectUris: ['https://agent.example/cb2'],
        createdAt: T0,
        expiresAt: undefined,
      });
      expect(await fx.store.deleteClient(clientId)).toBe(true);
      expect(await fx.store.deleteClient(clientId)).toBe(false);
      expect(await fx.store.getClient(clientId)).toBeUndefined();
    });

    it('keeps a confidential client secret hash', async () => {
      const clientId = rid('dyn');
      await fx.store.upsertClient({
        clientId,
        source: 'dynamic',
        redirectUris: ['https://a/cb'],
        tokenEndpointAuthMethod: 'client_secret_basic',
        clientSecretHash: 'sha256:abc',
        metadata: {},
        createdAt: T0,
      });
      expect(await fx.store.getClient(clientId)).toMatchObject({
        source: 'dynamic',
        tokenEndpointAuthMethod: 'client_secret_basic',
        clientSecretHash: 'sha256:abc',
        metadata: {},
      });
    });

    it('saves consent per user and agent; saving again replaces it', async () => {
      const sub = rid('user');
      await fx.store.saveConsent({ iss: 'https://idp.example', sub, clientId: 'agent-a', scopes: ['mcp:tools'], grantedAt: T0 });
      expect(await fx.store.getConsent('https://idp.example', sub, 'agent-a')).toEqual({
        iss: 'https://idp.example',
        sub,
        clientId: 'agent-a',
        scopes: ['mcp:tools'],
        grantedAt: T0,
      });
      expect(await fx.store.getConsent('https://idp.example', sub, 'agent-b')).toBeUndefined();
      expect(await fx.store.getConsent('https://other.example', sub, 'agent-a')).toBeUndefined();
      await fx.store.saveConsent({ iss: 'https://idp.example', sub, clientId: 'agent-a', scopes: ['mcp:tools', 'offline_access'], grantedAt: T0 + 1 });
      expect(await fx.store.getConsent('https://idp.example', sub, 'agent-a')).toMatchObject({ scopes: ['mcp:tools', 'offline_access'], grantedAt: T0 + 1 });
    });
  });
}
