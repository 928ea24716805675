import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { createSsfReceiver, EVENT_TYPES, SSF_PUSH_PATH, type SsfReceiver } from '../../src/ssf/index.js';
import { ENV, FakeControl, FakeTransmitter, MemorySink, newKey, pushInit, runtimeWith } from './helpers.js';

const ALICE = { iss: 'https://idp.test', sub: 'u-alice' };
const URL_ = `https://gw.test${SSF_PUSH_PATH}`;

let t: FakeTransmitter;
let control: FakeControl;
let audit: MemorySink;
let receiver: SsfReceiver;

function makeReceiver(
  ssf: Partial<NonNullable<GatewayConfigInput['ssf']>> = {},
  extra: { lookupUserByEmail?: (e: string) => Promise<Array<{ iss: string; sub: string }>> } = {},
) {
  return createSsfReceiver({
    config: { current: runtimeWith({ transmitter: t.issuer, maxAgeSeconds: 3600, ...ssf }) },
    control,
    audit,
    deps: { fetch: t.fetch, now: () => Date.now() },
    logger: silentLogger,
    env: ENV,
    keys: { jwksCooldownMs: 0 },
    ...extra,
  });
}

const push = (set: string, headers?: Record<string, string>, r: SsfReceiver = receiver) => r.routes.request(URL_, pushInit(set, headers));

beforeEach(async () => {
  t = await FakeTransmitter.create();
  control = new FakeControl();
  audit = new MemorySink();
  receiver = makeReceiver();
});
afterEach(async () => {
  await receiver.stop();
});

describe('RFC 8935 push: refused SETs', () => {
  const now = () => Math.floor(Date.now() / 1000);
  // Each SET has exactly one defect; the transmitter is told which with the RFC 8935 §2.4 code.
  const cases: Array<{
    name: string;
    err: string;
    set: () => Promise<string>;
    headers?: Record<string, string>;
    ssf?: Partial<NonNullable<GatewayConfigInput['ssf']>>;
  }> = [
    { name: 'wrong typ (JWT)', err: 'invalid_request', set: () => t.sign({}, { typ: 'JWT' }) },
    { name: 'typ with the media type prefix (exact match required)', err: 'invalid_request', set: () => t.sign({}, { typ: 'application/secevent+jwt' }) },
    { name: 'no typ', err: 'invalid_request', set: () => t.sign({}, { typ: undefined }) },
    { name: 'unknown iss', err: 'invalid_issuer', set: () => t.sign({ iss: 'https://evil.test' }) },
    { name: 'no iss', err: 'invalid_issuer', set: () => t.sign({ iss: undefined }) },
    { name: 'wrong aud', err: 'invalid_audience', set: () => t.sign({ aud: 'https://other-gateway.test' }) },
    { name: 'aud array without this receiver', err: 'invalid_audience', set: () => t.sign({ aud: ['https://a.test', 'https://b.test'] }) },
    {
      name: "bad signature (another key under the transmitter's kid)",
      err: 'authentication_failed',
      set: async () => t.sign({}, {}, { ...(await newKey('idp-1')) }),
    },
    { name: 'key not in the JWKS', err: 'invalid_key', set: async () => t.sign({}, {}, await newKey('stranger')) },
    {
      name: 'symmetric alg (HS256)',
      err: 'invalid_key',
      set: () =>
        new SignJWT({
          iss: t.issuer,
          aud: 'https://gw.test',
          iat: now(),
          jti: randomUUID(),
          sub_id: { format: 'iss_sub', ...ALICE },
          events: { [EVENT_TYPES.sessionRevoked]: {} },
        })
          .setProtectedHeader({ alg: 'HS256', typ: 'secevent+jwt', kid: 'idp-1' })
          .sign(new Uint8Array(32)),
    },
    {
      name: 'two events in one token',
      err: 'invalid_request',
      set: () => t.sign({ events: { [EVENT_TYPES.sessionRevoked]: {}, [EVENT_TYPES.accountDisabled]: {} } }),
    },
    { name: 'no event', err: 'invalid_request', set: () => t.sign({ events: {} }) },
    { name: 'event payload not an object', err: 'invalid_request', set: () => t.sign({ events: { [EVENT_TYPES.sessionRevoked]: 'x' } }) },
    { name: 'expired (exp in the past)', err: 'invalid_request', set: () => t.sign({ iat: now() - 600, exp: now() - 300 }) },
    { name: 'too old (iat before maxAgeSeconds)', err: 'invalid_request', set: () => t.sign({ iat: now() - 7200 }) },
    { name: 'iat in the future beyond the skew', err: 'invalid_request', set: () => t.sign({ iat: now() + 600 }) },
    { name: 'no iat', err: 'invalid_request', set: () => t.sign({ iat: undefined }) },
    { name: 'missing jti', err: 'invalid_request', set: () => t.sign({ jti: undefined }) },
    { name: 'missing subject (no sub_id)', err: 'invalid_request', set: () => t.sign({ sub_id: undefined }) },
    { name: 'iss_sub subject without sub', err: 'invalid_request', set: () => t.sign({ sub_id: { format: 'iss_sub', iss: t.issuer } }) },
    { name: 'not a JWT', err: 'invalid_request', set: async () => 'hello, this is not a token' },
    { name: 'an encrypted token (JWE)', err: 'invalid_request', set: async () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d' },
    { name: 'wrong content type', err: 'invalid_request', set: () => t.sign(), headers: { 'Content-Type': 'application/jwt' } },
    { name: 'no push token', err: 'authentication_failed', set: () => t.sign(), ssf: { pushToken: { env: 'PUSH_TOKEN' } } },
    {
      name: 'wrong push token',
      err: 'authentication_failed',
      set: () => t.sign(),
      headers: { Authorization: 'Bearer nope' },
      ssf: { pushToken: { env: 'PUSH_TOKEN' } },
    },
    {
      name: 'push to a receiver configured for poll',
      err: 'access_denied',
      set: () => t.sign(),
      ssf: { delivery: 'poll', pollUrl: 'https://idp.test/ssf/poll' },
    },
  ];

  it.each(cases)('$name -> 400 $err, nothing acted on', async ({ err, set, headers, ssf }) => {
    const r = ssf ? makeReceiver(ssf) : receiver;
    const res = await push(await set(), headers, r);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { err: string; description: string };
    expect(body.err).toBe(err);
    expect(body.description).toEqual(expect.any(String));
    expect(Object.keys(body).sort()).toEqual(['description', 'err']);
    expect(control.calls).toEqual([]);
    expect(audit.records).toEqual([]);
  });

  it('forged SETs with unknown kids cost at most one JWKS fetch per cooldown', async () => {
    const r = createSsfReceiver({
      config: { current: runtimeWith({ transmitter: t.issuer }) },
      control,
      audit,
      deps: { fetch: t.fetch, now: () => Date.now() },
      logger: silentLogger,
      env: ENV,
      keys: { jwksCooldownMs: 60_000 },
    });
    expect((await push(await t.sign(), {}, r)).status).toBe(202);
    expect(t.fetches['/jwks']).toBe(1);
    const stranger = await newKey('stranger');
    for (let i = 0; i < 3; i++) expect(((await (await push(await t.sign({}, {}, stranger), {}, r)).json()) as { err: string }).err).toBe('invalid_key');
    expect(t.fetches['/jwks']).toBe(1);
  });

  it('GET is 405; a SET over 64 KiB is refused before it is read', async () => {
    expect((await receiver.routes.request(URL_)).status).toBe(405);
    const res = await push('x'.repeat(70 * 1024));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { err: string }).err).toBe('invalid_request');
  });
});

describe('RFC 8935 push: events and their effects', () => {
  it('session-revoked: revokeUser once for the user, 202, audited', async () => {
    const jti = 'jti-revoke-1';
    const iat = Math.floor(Date.now() / 1000) - 5;
    const res = await push(
      await t.sign({ jti, iat, events: { [EVENT_TYPES.sessionRevoked]: { initiating_entity: 'admin', reason_admin: { en: 'Signed out everywhere' } } } }),
    );
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
    expect(control.calls).toEqual([
      {
        method: 'revokeUser',
        user: ALICE,
        reason: 'CAEP session-revoked from https://idp.test: Signed out everywhere',
        actor: { kind: 'security_event', iss: 'https://idp.test', jti, eventType: EVENT_TYPES.sessionRevoked, iat },
      },
    ]);
    expect(audit.records).toEqual([
      {
        type: 'security_event',
        phase: 'outcome',
        traceId: expect.any(String),
        user: ALICE,
        reason: 'CAEP session-revoked: sessions and tokens revoked (1 session(s), 3 refresh token(s), 2 downstream token(s))',
        outcome: { ok: true },
        securityEvent: {
          iss: 'https://idp.test',
          jti,
          eventType: EVENT_TYPES.sessionRevoked,
          delivery: 'push',
          issuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          subject: { format: 'iss_sub', ...ALICE },
          effect: 'revoke_user',
          revoked: { downstreamTokens: 2, sessions: 1, refreshTokens: 3 },
        },
      },
    ]);
  });

  it('account-disabled: disableUser once for the user, audited', async () => {
    const res = await push(await t.sign({ jti: 'jti-dis', events: { [EVENT_TYPES.accountDisabled]: { reason: 'hijacking' } } }));
    expect(res.status).toBe(202);
    expect(control.calls.map((c) => [c.method, c.user])).toEqual([['disableUser', ALICE]]);
    expect(audit.records).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({
      type: 'security_event',
      user: ALICE,
      outcome: { ok: true },
      reason: 'RISC account-disabled: user disabled; sessions and tokens revoked (1 session(s), 3 refresh token(s), 2 downstream token(s))',
      securityEvent: { jti: 'jti-dis', eventType: EVENT_TYPES.accountDisabled, effect: 'disable_user' },
    });
  });

  it.each([
    ['credential-change', EVENT_TYPES.credentialChange, 'revokeUser'],
    ['token-claims-change', EVENT_TYPES.tokenClaimsChange, 'revokeUser'],
    ['account-purged', EVENT_TYPES.accountPurged, 'disableUser'],
    ['credential-compromise', EVENT_TYPES.credentialCompromise, 'disableUser'],
  ])('%s -> %s', async (_n, type, method) => {
    expect((await push(await t.sign({ events: { [type]: {} } }))).status).toBe(202);
    expect(control.calls.map((c) => [c.method, c.user])).toEqual([[method, ALICE]]);
  });

  it('account-enabled lifts the user switch', async () => {
    await push(await t.sign({ events: { [EVENT_TYPES.accountDisabled]: {} } }));
    expect(control.disabled.size).toBe(1);
    const iat = Math.floor(Date.now() / 1000);
    const res = await push(await t.sign({ jti: 'jti-en', iat, events: { [EVENT_TYPES.accountEnabled]: {} } }));
    expect(res.status).toBe(202);
    expect(control.calls.map((c) => c.method)).toEqual(['disableUser', 'enableUser']);
    // The SET's iat goes along, so the control can tell a stale enable from a current one.
    expect(control.calls[1]!.eventTime).toBe(iat * 1000);
    expect(control.disabled.size).toBe(0);
    expect(audit.records[1]).toMatchObject({ reason: 'RISC account-enabled: user switch lifted', securityEvent: { effect: 'enable_user', lifted: true } });
    // Enabling a user who is not disabled is fine, and says so.
    await push(await t.sign({ events: { [EVENT_TYPES.accountEnabled]: {} } }));
    expect(audit.records[2]).toMatchObject({ reason: 'RISC account-enabled: user was not disabled; nothing to lift', securityEvent: { lifted: false } });
  });

  it('a duplicate jti is acknowledged (202) and acted on once, also when both arrive at once', async () => {
    const set = await t.sign({ jti: 'jti-dup' });
    expect((await push(set)).status).toBe(202);
    expect((await push(set)).status).toBe(202);
    const concurrent = await t.sign({ jti: 'jti-dup-2', events: { [EVENT_TYPES.accountDisabled]: {} } });
    const statuses = await Promise.all([push(concurrent), push(concurrent), push(concurrent)]);
    expect(statuses.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(control.calls.map((c) => [c.method, c.actor.kind === 'security_event' ? c.actor.jti : ''])).toEqual([
      ['revokeUser', 'jti-dup'],
      ['disableUser', 'jti-dup-2'],
    ]);
    expect(audit.records).toHaveLength(2);
  });

  it('subjects: email through the lookup, complex with a user, aliases, and the legacy event "subject"', async () => {
    const bob = { iss: 'https://idp.test', sub: 'u-bob' };
    const r = makeReceiver({}, { lookupUserByEmail: async (e) => (e === 'bob@acme.example' ? [bob, bob] : []) });
    await push(await t.sign({ sub_id: { format: 'email', email: 'bob@acme.example' } }), {}, r);
    await push(
      await t.sign({
        sub_id: { format: 'complex', user: { format: 'iss_sub', iss: 'https://idp.test', sub: 'u-carol' }, session: { format: 'opaque', id: 's1' } },
      }),
      {},
      r,
    );
    await push(
      await t.sign({
        sub_id: {
          format: 'aliases',
          identifiers: [
            { format: 'opaque', id: 'x' },
            { format: 'email', email: 'bob@acme.example' },
          ],
        },
      }),
      {},
      r,
    );
    await push(await t.sign({ sub_id: undefined, events: { [EVENT_TYPES.sessionRevoked]: { subject: { user: { format: 'iss_sub', ...ALICE } } } } }), {}, r);
    expect(control.calls.map((c) => c.user)).toEqual([bob, { iss: 'https://idp.test', sub: 'u-carol' }, bob, ALICE]);
  });

  it('a subject that matches no user is acknowledged and audited as unresolved', async () => {
    const res = await push(await t.sign({ jti: 'jti-nobody', sub_id: { format: 'email', email: 'nobody@acme.example' } }));
    expect(res.status).toBe(202);
    expect(control.calls).toEqual([]);
    expect(audit.records).toEqual([
      expect.objectContaining({
        type: 'security_event',
        outcome: { ok: true },
        securityEvent: expect.objectContaining({ jti: 'jti-nobody', effect: 'unresolved' }),
      }),
    ]);
    expect(audit.records[0]!.user).toBeUndefined();
  });

  it('unknown event types are acknowledged and audited as ignored', async () => {
    const type = 'https://schemas.openid.net/secevent/caep/event-type/device-compliance-change';
    const res = await push(await t.sign({ jti: 'jti-ign', events: { [type]: { current_status: 'not-compliant' } } }));
    expect(res.status).toBe(202);
    expect(control.calls).toEqual([]);
    expect(audit.records).toEqual([
      expect.objectContaining({
        type: 'security_event',
        reason: 'CAEP device-compliance-change: event type not acted on by the gateway; acknowledged',
        outcome: { ok: true },
        securityEvent: expect.objectContaining({ jti: 'jti-ign', eventType: type, effect: 'ignored' }),
      }),
    ]);
  });

  it('with the push token configured, the right bearer is accepted', async () => {
    const r = makeReceiver({ pushToken: { env: 'PUSH_TOKEN' } });
    expect((await push(await t.sign(), { Authorization: `Bearer ${ENV.PUSH_TOKEN}` }, r)).status).toBe(202);
  });

  it('aud: the default audience (server.publicUrl) matches with or without the trailing slash; an array naming it passes', async () => {
    expect((await push(await t.sign({ aud: 'https://gw.test/' }))).status).toBe(202);
    expect((await push(await t.sign({ aud: ['https://x.test', 'https://gw.test'] }))).status).toBe(202);
    const r = makeReceiver({ audience: 'urn:acme:gateway' });
    expect((await push(await t.sign({ aud: 'urn:acme:gateway' }), {}, r)).status).toBe(202);
    expect(((await (await push(await t.sign(), {}, r)).json()) as { err: string }).err).toBe('invalid_audience');
  });

  it('key rotation: a SET signed with a new key is taken after one JWKS refetch', async () => {
    expect((await push(await t.sign())).status).toBe(202);
    const rotated = await newKey('idp-2');
    t.keys.push(rotated);
    expect((await push(await t.sign({}, {}, rotated))).status).toBe(202);
    expect(t.fetches['/jwks']).toBe(2);
    expect(t.fetches['/.well-known/ssf-configuration']).toBe(1);
  });

  it('no kid and several keys in the JWKS: each is tried (202 with the right one, authentication_failed with none)', async () => {
    const second = await newKey('idp-2');
    t.keys.push(second);
    expect((await push(await t.sign({}, { kid: undefined }, second))).status).toBe(202);
    const res = await push(await t.sign({}, { kid: undefined }, await newKey('stranger')));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { err: string }).err).toBe('authentication_failed');
    expect(control.calls).toHaveLength(1);
  });

  it('transient failures answer 503 and keep the jti open, so the redelivery is acted on', async () => {
    t.down = true;
    const set = await t.sign({ jti: 'jti-transient' });
    const res = await push(set);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(control.calls).toEqual([]);
    t.down = false;
    control.failNext = 1;
    expect((await push(set)).status).toBe(503);
    expect(audit.records).toEqual([
      expect.objectContaining({ outcome: { ok: false, error: 'store_unavailable' }, securityEvent: expect.objectContaining({ jti: 'jti-transient' }) }),
    ]);
    expect((await push(set)).status).toBe(202);
    expect(control.calls).toHaveLength(1);
    expect(audit.records.at(-1)).toMatchObject({ outcome: { ok: true } });
  });

  it('the audit log down: 503 (the effect is idempotent and is applied again on redelivery)', async () => {
    audit.failing = true;
    const set = await t.sign({ jti: 'jti-audit' });
    expect((await push(set)).status).toBe(503);
    audit.failing = false;
    expect((await push(set)).status).toBe(202);
    expect(control.calls).toHaveLength(2);
    expect(audit.records).toHaveLength(1);
  });

  it('without an "ssf" section the route answers 404', async () => {
    const r = createSsfReceiver({
      config: { current: runtimeWith(undefined) },
      control,
      audit,
      deps: { fetch: t.fetch, now: Date.now },
      logger: silentLogger,
      env: ENV,
    });
    expect((await push(await t.sign(), {}, r)).status).toBe(404);
    r.start();
    await r.stop();
  });
});
