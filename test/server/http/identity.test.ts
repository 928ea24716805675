import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, loadConfigFile } from '../../../src/config/index.js';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { GatewayError } from '../../../src/errors.js';
import { HttpIdentity } from '../../../src/inbound/http/identity.js';
import { ID_TOKEN_TYPE } from '../../../src/inbound/idp-subject.js';
import type { Store, UserSession } from '../../../src/store/index.js';
import { startHarness, type Harness } from './harness.js';

/** HttpIdentity: the caller of an HTTP request is the gateway session its verified token names. */

let h: Harness;
let alice: UserSession;
let refreshGrants = 0;
let identity: HttpIdentity;
const countingDeps: Deps = {
  ...defaultDeps,
  fetch: async (input, init) => {
    if (init?.body && /grant_type=refresh_token/.test(String(init.body))) refreshGrants++;
    return defaultDeps.fetch(input, init);
  },
};

beforeAll(async () => {
  h = await startHarness();
  alice = await h.signIn('alice');
  identity = new HttpIdentity({ store: h.store, config: new ConfigStore(loadConfigFile(h.env.configPath)), deps: countingDeps });
});
afterAll(() => h?.close());

const authInfo = (s: Pick<UserSession, 'id' | 'sub' | 'iss'>) => ({
  token: 't',
  clientId: 'agent-a',
  scopes: ['mcp:tools'],
  extra: { sid: s.id, sub: s.sub, idpIss: s.iss, jti: 'j' },
});

describe('HttpIdentity', () => {
  it('resolves the user of the session named by the token', async () => {
    const caller = await identity.resolve({ authInfo: authInfo(alice) });
    expect(caller.user).toEqual({ iss: alice.iss, sub: 'u-alice', email: alice.email, name: alice.name });
  });

  it.each([
    ['no authInfo', () => undefined, 'not signed in: reconnect the MCP client to sign in again'],
    [
      'an unknown session',
      () => authInfo({ ...alice, id: 'no-such-session' }),
      'your gateway session has ended (signed out or revoked); reconnect the MCP client to sign in again',
    ],
    [
      "a token whose sub is not the session's",
      () => authInfo({ ...alice, sub: 'u-bob' }),
      'your gateway session does not match your access token; reconnect the MCP client to sign in again',
    ],
  ])('%s -> not_signed_in', async (_, info, message) => {
    const err = await identity.resolve({ authInfo: info() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'not_signed_in', message });
  });

  it('a signed-out session -> not_signed_in', async () => {
    const s = await h.signIn('alice');
    await identity.resolve({ authInfo: authInfo(s) });
    await h.store.revokeUserSession(s.id, Date.now());
    await expect(identity.resolve({ authInfo: authInfo(s) })).rejects.toMatchObject({ code: 'not_signed_in', message: expect.stringMatching(/has ended/) });
  });

  it('a store that cannot be read -> store_unavailable', async () => {
    const broken = {
      getUserSession: async () => {
        throw new Error('connection refused');
      },
    } as unknown as Store;
    const id = new HttpIdentity({ store: broken, config: h.config, deps: defaultDeps });
    await expect(id.resolve({ authInfo: authInfo(alice) })).rejects.toMatchObject({ code: 'store_unavailable' });
  });

  it('one IdpSubject per session: concurrent calls share one renewal, saved to the store', async () => {
    const s = await h.signIn('alice');
    const first = await identity.resolve({ authInfo: authInfo(s) });
    const second = await identity.resolve({ authInfo: authInfo(s) });
    expect(second.subject).toBe(first.subject);
    expect((await identity.resolve({ authInfo: authInfo(alice) })).subject).not.toBe(first.subject);
    // Make the held ID token look expired: the next use renews it with the IdP refresh token.
    await h.store.updateUserSessionTokens(s.id, { idToken: s.idToken, idTokenExpiresAt: Date.now() - 1000 });
    const before = refreshGrants;
    const tokens = await Promise.all(Array.from({ length: 5 }, () => first.subject.getSubjectToken({ forceRefresh: false, type: ID_TOKEN_TYPE })));
    expect(refreshGrants - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    const stored = (await h.store.getUserSession(s.id))!;
    expect(stored.idToken).toBe(tokens[0]);
    expect(stored.idTokenExpiresAt).toBeGreaterThan(Date.now());
    expect(stored.idpRefreshToken).toBeTruthy();
  });
});
