import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createSsfReceiver, EVENT_TYPES, SSF_PUSH_PATH, type SsfReceiver } from '../../src/ssf/index.js';
import { startDemoEnterprise, type DemoEnterprise } from '../../tools/demo/index.js';
import { readDemoSecret } from '../../tools/demo/secrets.js';
import { ENV, FakeControl, MemorySink, runtimeWith } from './helpers.js';

/**
 * The receiver against the demo IdP's transmitter over real HTTP on loopback: RFC 8936 poll and
 * RFC 8935 push, with the events raised by the demo IdP admin's actions.
 */

let demo: DemoEnterprise;
const adminToken = readDemoSecret('idp-admin-token');
const receiverToken = readDemoSecret('ssf-receiver-token');
const user = (sub: string) => ({ iss: demo.urls.idp, sub });

beforeAll(async () => {
  demo = await startDemoEnterprise({ ports: 'random' });
});
afterAll(async () => {
  await demo?.stop();
});

async function idp(path: string, init: RequestInit & { token?: string } = {}) {
  const res = await fetch(`${demo.urls.idp}${path}`, {
    ...init,
    headers: {
      ...(init.body ? { 'Content-Type': 'application/json' } : {}),
      Authorization: `Bearer ${init.token ?? adminToken}`,
      ...(init.headers as Record<string, string>),
    },
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
}

describe('demo IdP transmitter', () => {
  it('publishes its SSF configuration; its stream and poll endpoints need the receiver token', async () => {
    const meta = await (await fetch(`${demo.urls.idp}/.well-known/ssf-configuration`)).json();
    expect(meta).toEqual({
      spec_version: '1_0',
      issuer: demo.urls.idp,
      jwks_uri: `${demo.urls.idp}/jwks`,
      delivery_methods_supported: ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936'],
      configuration_endpoint: `${demo.urls.idp}/ssf/streams`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
    });
    expect((await idp('/ssf/streams', { token: 'wrong' })).status).toBe(401);
    expect((await idp('/ssf/poll/x', { method: 'POST', body: '{}', token: 'wrong' })).status).toBe(401);
    expect((await idp('/control/users/alice/deactivate', { method: 'POST', token: receiverToken })).status).toBe(401);
    expect((await idp('/control/events', { method: 'POST', body: JSON.stringify({ username: 'alice', event: 'no-such-event' }) })).status).toBe(400);
  });
});

describe('RFC 8936 poll from the demo IdP', () => {
  let receiver: SsfReceiver;
  let streamId: string;
  const control = new FakeControl();
  const audit = new MemorySink();

  beforeAll(async () => {
    const created = await idp('/ssf/streams', {
      method: 'POST',
      token: receiverToken,
      body: JSON.stringify({ aud: 'https://gw.test', delivery: { method: 'urn:ietf:rfc:8936' } }),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      iss: demo.urls.idp,
      aud: 'https://gw.test',
      delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: expect.stringContaining('/ssf/poll/') },
    });
    streamId = created.body.stream_id;
    receiver = createSsfReceiver({
      config: {
        current: runtimeWith({
          transmitter: demo.urls.idp,
          delivery: 'poll',
          pollUrl: created.body.delivery.endpoint_url,
          pollToken: { env: 'DEMO_RECEIVER_TOKEN' },
          pollIntervalSeconds: 1,
        }),
      },
      control,
      audit,
      deps: { fetch: (i, init) => fetch(i, init), now: () => Date.now() },
      logger: silentLogger,
      env: { ...ENV, DEMO_RECEIVER_TOKEN: receiverToken },
    });
  });
  afterAll(async () => {
    await receiver?.stop();
    demo.ssf.deleteStream(streamId);
  });

  it('takes the queued SETs, acts on them, acknowledges them in the next poll and reports refused ones', async () => {
    demo.control.revokeUserSessions('alice'); // "sign out everywhere": CAEP session-revoked
    demo.control.setUserActive('bob', false); // RISC account-disabled
    demo.control.emitSecurityEvent('alice', 'account-disabled', { claims: { aud: 'https://someone-else.test' } });
    await demo.ssf.flush();
    expect(demo.ssf.pending(streamId)).toHaveLength(3);

    expect(await receiver.pollOnce()).toEqual({ received: 3, acted: 2, duplicates: 0, refused: 1, deferred: 0, moreAvailable: false });
    // Same iat: their order is the order the IdP signed them in.
    expect(control.calls.map((c) => [c.method, c.user])).toEqual(
      expect.arrayContaining([
        ['revokeUser', user('u-alice')],
        ['disableUser', user('u-bob')],
      ]),
    );
    expect(control.calls).toHaveLength(2);
    expect(demo.ssf.pending(streamId)).toHaveLength(3); // acknowledged with the next poll
    await receiver.pollOnce();
    expect(demo.ssf.pending(streamId)).toEqual([]);
    expect(demo.ssf.setErrs).toEqual([{ streamId, jti: expect.any(String), err: 'invalid_audience', description: expect.any(String) }]);
    expect(audit.records.map((r) => `${(r.securityEvent as any).delivery} ${(r.securityEvent as any).eventType}`).sort()).toEqual(
      [`poll ${EVENT_TYPES.accountDisabled}`, `poll ${EVENT_TYPES.sessionRevoked}`].sort(),
    );
  });

  it('started, it polls on its own: re-enabling bob in the demo lifts him', async () => {
    receiver.start();
    demo.control.setUserActive('bob', true); // RISC account-enabled
    await demo.ssf.flush();
    await expect.poll(() => control.calls.length, { timeout: 10_000 }).toBe(3);
    expect(control.calls[2]).toMatchObject({ method: 'enableUser', user: user('u-bob') });
    await expect.poll(() => demo.ssf.pending(streamId), { timeout: 10_000 }).toEqual([]);
    await receiver.stop();
  });
});

describe('RFC 8935 push from the demo IdP to the receiver on loopback (end to end)', () => {
  let server: Server;
  let origin: string;
  let receiver: SsfReceiver;
  const control = new FakeControl();
  const audit = new MemorySink();
  const streams: string[] = [];

  beforeAll(async () => {
    let handler: (req: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 });
    server = createAdaptorServer({ fetch: (req: Request) => handler(req) }) as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    receiver = createSsfReceiver({
      config: { current: runtimeWith({ transmitter: demo.urls.idp, pushToken: { env: 'PUSH_TOKEN' } }, { publicUrl: origin }) },
      control,
      audit,
      deps: { fetch: (i, init) => fetch(i, init), now: () => Date.now() },
      logger: silentLogger,
      env: ENV,
    });
    handler = (req) => receiver.routes.fetch(req);
    streams.push(
      demo.ssf.createStream({
        aud: origin,
        delivery: { method: 'push', endpointUrl: `${origin}${SSF_PUSH_PATH}`, authorizationHeader: `Bearer ${ENV.PUSH_TOKEN}` },
      }).streamId,
    );
  });
  afterAll(async () => {
    for (const s of streams) demo.ssf.deleteStream(s);
    await receiver?.stop();
    await new Promise<void>((resolve) => {
      server?.closeAllConnections();
      server?.close(() => resolve());
    });
  });

  it('deactivating a user in the demo IdP disables that user at the gateway, once', async () => {
    const res = await idp('/control/users/alice/deactivate', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.body.deliveries).toEqual([
      { streamId: streams[0], jti: expect.any(String), event: EVENT_TYPES.accountDisabled, username: 'alice', status: 202 },
    ]);
    expect(control.calls).toEqual([
      {
        method: 'disableUser',
        user: user('u-alice'),
        reason: `RISC account-disabled from ${demo.urls.idp}`,
        actor: { kind: 'security_event', iss: demo.urls.idp, jti: res.body.deliveries[0].jti, eventType: EVENT_TYPES.accountDisabled, iat: expect.any(Number) },
      },
    ]);
    expect(audit.records).toEqual([
      expect.objectContaining({
        type: 'security_event',
        user: user('u-alice'),
        outcome: { ok: true },
        securityEvent: expect.objectContaining({ delivery: 'push', effect: 'disable_user' }),
      }),
    ]);
    // Deactivating again changes nothing at the IdP, so nothing is sent.
    expect((await idp('/control/users/alice/deactivate', { method: 'POST' })).body.deliveries).toEqual([]);
    expect((await idp('/control/users/alice/activate', { method: 'POST' })).body.deliveries).toMatchObject([
      { status: 202, event: EVENT_TYPES.accountEnabled },
    ]);
    expect(control.calls.map((c) => c.method)).toEqual(['disableUser', 'enableUser']);
  });

  it('"sign out everywhere" and an arbitrary event (email subject, unknown to the gateway) are pushed too', async () => {
    const before = control.calls.length;
    expect((await idp('/control/users/bob/sign-out-everywhere', { method: 'POST' })).body.deliveries).toMatchObject([
      { status: 202, event: EVENT_TYPES.sessionRevoked },
    ]);
    const custom = 'https://schemas.openid.net/secevent/caep/event-type/assurance-level-change';
    const res = await idp('/control/events', {
      method: 'POST',
      body: JSON.stringify({ username: 'carol', event: 'assurance-level-change', subjectFormat: 'complex' }),
    });
    expect(res.body.deliveries).toMatchObject([{ status: 202, event: custom }]);
    expect(control.calls.slice(before).map((c) => [c.method, c.user])).toEqual([['revokeUser', user('u-bob')]]);
    expect(audit.records.at(-1)).toMatchObject({
      securityEvent: { eventType: custom, effect: 'ignored', subject: { format: 'complex', user: { format: 'iss_sub', sub: 'u-carol' } } },
    });
  });

  it('a stream pushing with the wrong token is refused with authentication_failed and nothing is done', async () => {
    const before = control.calls.length;
    const bad = demo.ssf.createStream({
      aud: origin,
      delivery: { method: 'push', endpointUrl: `${origin}${SSF_PUSH_PATH}`, authorizationHeader: 'Bearer wrong' },
      eventsRequested: ['credential-change'],
    });
    streams.push(bad.streamId);
    const jtis = await demo.ssf.emit('alice', 'credential-change');
    expect(jtis).toHaveLength(2); // one per stream that asked for it
    const results = demo.ssf.deliveries.filter((d) => jtis.includes(d.jti));
    expect(results.find((d) => d.streamId === bad.streamId)).toMatchObject({ status: 400, error: { err: 'authentication_failed' } });
    expect(results.find((d) => d.streamId === streams[0])).toMatchObject({ status: 202 });
    expect(control.calls.slice(before).map((c) => c.method)).toEqual(['revokeUser']);
  });
});
