import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { TokenBroker, tokenKey, type MintTarget, type SubjectTokenSource, type XaaPort } from '../../src/broker/index.js';

const alice = { iss: 'https://idp.example', sub: 'u-alice' };
const bob = { iss: 'https://idp.example', sub: 'u-bob' };
const client = { clientId: 'xaa-gateway', auth: { method: 'client_secret_basic' as const, clientSecret: 's' } };
const target = (over: Partial<MintTarget> = {}): MintTarget => ({
  user: alice,
  resource: 'https://cal.example/api',
  scopes: ['calendar.read'],
  authorizationServer: 'https://cal.example',
  client,
  ...over,
});

interface FakeOpts {
  expiresInMs?: number;
  exchangeErrors?: GatewayError[];
  delayMs?: number;
}

function setup(opts: FakeOpts = {}) {
  let now = 1_700_000_000_000;
  const calls = { exchange: [] as { subjectToken: string; subjectTokenType: string; scopes: string[]; resource: string }[], bearer: 0 };
  const errors = [...(opts.exchangeErrors ?? [])];
  let n = 0;
  const xaa: XaaPort = {
    discover: async (issuer) => ({ issuer, token_endpoint: `${issuer}/token` }),
    requestIdJag: async (p) => {
      calls.exchange.push({ subjectToken: p.subjectToken, subjectTokenType: p.subjectTokenType, scopes: p.scopes, resource: p.resource });
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const err = errors.shift();
      if (err) throw err;
      return { idJag: 'idjag', jti: `jti-${calls.exchange.length}`, expiresAt: now + 300_000 };
    },
    redeemIdJag: async (p) => {
      calls.bearer++;
      return {
        accessToken: `at-${++n}`,
        tokenType: 'Bearer',
        expiresAt: opts.expiresInMs === undefined ? undefined : now + opts.expiresInMs,
        scopes: p.scopes,
      };
    },
  };
  const broker = new TokenBroker({
    xaa,
    deps: { now: () => now },
    idp: () => ({ issuer: 'https://idp.example', client, subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token' }),
    maxLifetimeMs: () => 15 * 60_000,
    skewMs: () => 30_000,
  });
  const refreshes: boolean[] = [];
  const subject: SubjectTokenSource = {
    getSubjectToken: async ({ forceRefresh }) => {
      refreshes.push(forceRefresh);
      return forceRefresh ? 'id-token-renewed' : 'id-token';
    },
  };
  return { broker, calls, subject, refreshes, advance: (ms: number) => (now += ms) };
}

describe('token broker', () => {
  it('caches by user, resource and sorted scopes', async () => {
    const { broker, calls, subject } = setup({ expiresInMs: 600_000 });
    const a = await broker.getToken(target({ scopes: ['b', 'a'] }), subject);
    const b = await broker.getToken(target({ scopes: ['a', 'b', 'a'] }), subject);
    expect(a.fromCache).toBe(false);
    expect(b).toMatchObject({ fromCache: true, accessToken: a.accessToken, idJagJti: 'jti-1' });
    expect(calls.exchange).toHaveLength(1);
    expect(calls.exchange[0]!.scopes).toEqual(['a', 'b']);
    expect(broker.stats).toMatchObject({ hits: 1, misses: 1, tokenExchanges: 1, jwtBearerGrants: 1 });
  });

  it.each([
    ['another user', target({ user: bob })],
    ['another resource', target({ resource: 'https://crm.example/api' })],
    ['another scope set', target({ scopes: ['calendar.write'] })],
  ])('does not share a token with %s', async (_label, other) => {
    const { broker, calls, subject } = setup({ expiresInMs: 600_000 });
    const a = await broker.getToken(target(), subject);
    const b = await broker.getToken(other, subject);
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(calls.exchange).toHaveLength(2);
  });

  it.each([
    // [token expires_in, advance, expect re-mint]: lifetime = min(exp - 30 s skew, 15 min cap)
    ['exp 10 min, 9 min later', 600_000, 9 * 60_000, false],
    ['exp 10 min, 9 min 31 s later (inside skew)', 600_000, 9 * 60_000 + 31_000, true],
    ['exp 1 h, 14 min later (under cap)', 3_600_000, 14 * 60_000, false],
    ['exp 1 h, 15 min later (cap)', 3_600_000, 15 * 60_000, true],
    ['no exp, 15 min later (cap)', undefined, 15 * 60_000, true],
    ['exp 20 s (shorter than skew): never cached', 20_000, 0, true],
  ] as const)('expiry: %s', async (_label, expiresInMs, advanceMs, remint) => {
    const { broker, calls, subject, advance } = setup({ expiresInMs });
    await broker.getToken(target(), subject);
    advance(advanceMs);
    const second = await broker.getToken(target(), subject);
    expect(second.fromCache).toBe(!remint);
    expect(calls.exchange).toHaveLength(remint ? 2 : 1);
  });

  it('100 concurrent first calls make one token exchange and one jwt-bearer grant', async () => {
    const { broker, calls, subject } = setup({ expiresInMs: 600_000, delayMs: 20 });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => broker.getToken(target(), subject)));
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(calls.exchange).toHaveLength(1);
    expect(calls.bearer).toBe(1);
  });

  it('a failed mint is shared by the waiting callers and not cached', async () => {
    const denied = new GatewayError('token_exchange_failed', 'denied', { oauthError: 'access_denied' });
    const { broker, calls, subject } = setup({ expiresInMs: 600_000, delayMs: 10, exchangeErrors: [denied] });
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => broker.getToken(target(), subject)));
    expect(results.every((r) => r.status === 'rejected' && r.reason === denied)).toBe(true);
    expect(calls.exchange).toHaveLength(1);
    await broker.getToken(target(), subject);
    expect(calls.exchange).toHaveLength(2);
  });

  it('renews the subject token once when the IdP says invalid_grant', async () => {
    const invalid = new GatewayError('token_exchange_failed', 'expired', { oauthError: 'invalid_grant' });
    const { broker, calls, subject, refreshes } = setup({ expiresInMs: 600_000, exchangeErrors: [invalid] });
    await broker.getToken(target(), subject);
    expect(refreshes).toEqual([false, true]);
    expect(calls.exchange.map((c) => c.subjectToken)).toEqual(['id-token', 'id-token-renewed']);
    expect(broker.stats.subjectRefreshes).toBe(1);
  });

  it('a second invalid_grant after renewal stands', async () => {
    const invalid = new GatewayError('token_exchange_failed', 'revoked', { oauthError: 'invalid_grant' });
    const { broker, subject } = setup({ exchangeErrors: [invalid, invalid] });
    await expect(broker.getToken(target(), subject)).rejects.toMatchObject({ code: 'token_exchange_failed', oauthError: 'invalid_grant' });
  });

  it("an enterprise-managed sign-in's ID-JAG is presented as an id-jag subject (chained exchange) and never renewed", async () => {
    const invalid = new GatewayError('token_exchange_failed', 'subject has act', { oauthError: 'invalid_grant' });
    const { broker, calls } = setup({ expiresInMs: 600_000, exchangeErrors: [invalid] });
    const asked: boolean[] = [];
    const subject: SubjectTokenSource = {
      fixedTokenType: 'urn:ietf:params:oauth:token-type:id-jag',
      getSubjectToken: async ({ forceRefresh, type }) => {
        asked.push(forceRefresh);
        expect(type).toBe('urn:ietf:params:oauth:token-type:id-jag');
        return 'the-id-jag';
      },
    };
    await expect(broker.getToken(target(), subject)).rejects.toBe(invalid);
    expect(asked).toEqual([false]);
    expect(broker.stats.subjectRefreshes).toBe(0);
    await broker.getToken(target(), subject);
    expect(calls.exchange.map((c) => [c.subjectToken, c.subjectTokenType])).toEqual([
      ['the-id-jag', 'urn:ietf:params:oauth:token-type:id-jag'],
      ['the-id-jag', 'urn:ietf:params:oauth:token-type:id-jag'],
    ]);
  });

  it.each(['access_denied', 'invalid_target'])('does not renew the subject for %s', async (oauthError) => {
    const err = new GatewayError('token_exchange_failed', 'no', { oauthError });
    const { broker, subject, refreshes } = setup({ exchangeErrors: [err] });
    await expect(broker.getToken(target(), subject)).rejects.toBe(err);
    expect(refreshes).toEqual([false]);
  });

  it('evicts only the refused token: concurrent 401s cause one re-mint', async () => {
    const { broker, calls, subject } = setup({ expiresInMs: 600_000 });
    const first = await broker.getToken(target(), subject);
    expect(broker.evict(target(), first.accessToken)).toBe(true);
    const second = await broker.getToken(target(), subject);
    expect(broker.evict(target(), first.accessToken)).toBe(false);
    expect((await broker.getToken(target(), subject)).accessToken).toBe(second.accessToken);
    expect(calls.exchange).toHaveLength(2);
  });

  it.each([
    ['user', { user: alice }, 2],
    ['resource', { resource: 'https://cal.example/api' }, 2],
    ['user and resource', { user: alice, resource: 'https://cal.example/api' }, 1],
  ] as const)('purges by %s', async (_label, filter, purged) => {
    const { broker, subject } = setup({ expiresInMs: 600_000 });
    await broker.getToken(target(), subject);
    await broker.getToken(target({ scopes: ['calendar.write'], resource: 'https://crm.example/api' }), subject);
    await broker.getToken(target({ user: bob }), subject);
    expect(broker.size).toBe(3);
    expect(broker.purge(filter)).toBe(purged);
    expect(broker.size).toBe(3 - purged);
  });

  it('a purge during a mint keeps its result out of the cache', async () => {
    const { broker, calls, subject } = setup({ expiresInMs: 600_000, delayMs: 20 });
    const pending = broker.getToken(target(), subject);
    await new Promise((r) => setTimeout(r, 5));
    broker.purge({ user: alice });
    await pending;
    expect(broker.size).toBe(0);
    await broker.getToken(target(), subject);
    expect(calls.exchange).toHaveLength(2);
  });

  it('keys cannot be forged by separators inside values', () => {
    expect(tokenKey({ user: { iss: 'a', sub: 'b c' }, resource: 'r', scopes: [] })).not.toBe(
      tokenKey({ user: { iss: 'a b', sub: 'c' }, resource: 'r', scopes: [] }),
    );
  });
});
