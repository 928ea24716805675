import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { safeEqual } from '../oauth.js';
import { readDemoSecret } from '../secrets.js';
import type { IdpContext } from './context.js';
import type { DemoScimClient } from './scim-client.js';
import { DEMO_EVENT_TYPES, POLL_METHOD, PUSH_METHOD, type DemoTransmitter } from './ssf.js';

/**
 * HTTP surface of the demo transmitter, mounted on the IdP:
 * - GET  /.well-known/ssf-configuration       SSF 1.0 §7 metadata (public)
 * - POST|GET|DELETE /ssf/streams               SSF 1.0 §8.1.1 stream configuration (receiver bearer token)
 * - POST /ssf/poll/:streamId                   RFC 8936 poll endpoint (receiver bearer token)
 * - POST /control/users/:username/{deactivate,activate,sign-out-everywhere}, POST /control/events,
 *   POST /control/users/:username/groups/:group/{add,remove}, POST|GET|DELETE /control/scim/targets:
 *   the IdP admin's actions, for people running the demo (admin bearer token, demo-only)
 * Tokens: tools/demo/secrets/ssf-receiver-token and idp-admin-token.
 */

const CreateStream = z.object({
  delivery: z.union([
    z.object({ method: z.literal(PUSH_METHOD), endpoint_url: z.url(), authorization_header: z.string().optional() }),
    z.object({ method: z.literal(POLL_METHOD) }),
  ]),
  events_requested: z.array(z.string()).optional(),
  // Demo extension: SSF makes `aud` transmitter-supplied; the demo lets the receiver say what it expects.
  aud: z.string().min(1),
});

const PollRequest = z.object({
  ack: z.array(z.string()).default([]),
  setErrs: z.record(z.string(), z.object({ err: z.string(), description: z.string() })).default({}),
  maxEvents: z.number().int().min(0).optional(),
  returnImmediately: z.boolean().default(false),
});

const EmitRequest = z.object({
  username: z.string().min(1),
  event: z.string().min(1),
  subjectFormat: z.enum(['iss_sub', 'email', 'complex']).optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
});

const ScimTarget = z.object({ baseUrl: z.url(), token: z.string().min(1), groups: z.array(z.string().min(1)).optional() });

export function ssfMetadata(issuer: string) {
  return {
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/jwks`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${issuer}/ssf/streams`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
  };
}

export function createSsfRoutes(ctx: IdpContext, transmitter: DemoTransmitter, scim?: DemoScimClient): Hono {
  const app = new Hono();
  const adminToken = readDemoSecret('idp-admin-token');
  const bearer = (c: Context, token: string) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    return !!m && safeEqual(m[1]!, token);
  };
  const unauthorized = (c: Context) => c.json({ error: 'invalid_token' }, 401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  const invalid = (c: Context, issues: z.core.$ZodIssue[]) =>
    c.json({ error: 'invalid_request', error_description: issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') }, 400);
  const body = async (c: Context) => c.req.json().catch(() => undefined);

  app.get('/.well-known/ssf-configuration', (c) => c.json(ssfMetadata(ctx.issuer)));

  app.use('/ssf/*', async (c, next) => (bearer(c, transmitter.receiverToken) ? next() : unauthorized(c)));
  app.post('/ssf/streams', async (c) => {
    const parsed = CreateStream.safeParse(await body(c));
    if (!parsed.success) return invalid(c, parsed.error.issues);
    const d = parsed.data.delivery;
    const stream = transmitter.createStream({
      aud: parsed.data.aud,
      delivery:
        d.method === PUSH_METHOD
          ? { method: 'push', endpointUrl: d.endpoint_url, ...(d.authorization_header ? { authorizationHeader: d.authorization_header } : {}) }
          : { method: 'poll' },
      ...(parsed.data.events_requested ? { eventsRequested: parsed.data.events_requested } : {}),
    });
    return c.json(streamJson(ctx.issuer, stream), 201);
  });
  app.get('/ssf/streams', (c) => {
    const id = c.req.query('stream_id');
    if (id === undefined) return c.json(transmitter.streams().map((s) => streamJson(ctx.issuer, s)));
    const s = transmitter.stream(id);
    return s ? c.json(streamJson(ctx.issuer, s)) : c.json({ error: 'not_found' }, 404);
  });
  app.delete('/ssf/streams', (c) => (transmitter.deleteStream(c.req.query('stream_id') ?? '') ? c.body(null, 204) : c.json({ error: 'not_found' }, 404)));

  app.post('/ssf/poll/:streamId', async (c) => {
    const parsed = PollRequest.safeParse(await body(c));
    if (!parsed.success) return invalid(c, parsed.error.issues);
    const res = await transmitter.poll(c.req.param('streamId'), parsed.data);
    return res ? c.json(res, 200, { 'Cache-Control': 'no-store' }) : c.json({ error: 'not_found' }, 404);
  });

  // The IdP admin's actions: each answers once its SETs were pushed or queued, with what the receivers said.
  app.use('/control/*', async (c, next) => (bearer(c, adminToken) ? next() : unauthorized(c)));
  const act = async (c: Context, fn: () => void) => {
    const before = transmitter.deliveries.length;
    const scimBefore = scim?.deliveries.length ?? 0;
    try {
      fn();
    } catch (e) {
      return c.json({ error: 'invalid_request', error_description: (e as Error).message }, 400);
    }
    await Promise.all([transmitter.flush(), scim?.flush()]);
    return c.json({ ok: true, deliveries: transmitter.deliveries.slice(before), ...(scim ? { scim: scim.deliveries.slice(scimBefore) } : {}) });
  };
  const user = (c: Context) => c.req.param('username') ?? '';
  app.post('/control/users/:username/deactivate', (c) => act(c, () => ctx.state.control.setUserActive(user(c), false)));
  app.post('/control/users/:username/activate', (c) => act(c, () => ctx.state.control.setUserActive(user(c), true)));
  app.post('/control/users/:username/sign-out-everywhere', (c) => act(c, () => ctx.state.control.revokeUserSessions(user(c))));
  // Group membership (SCIM pushes it for the groups a target receives).
  app.post('/control/users/:username/groups/:group/add', (c) => act(c, () => ctx.state.control.setGroupMember(user(c), c.req.param('group') ?? '', true)));
  app.post('/control/users/:username/groups/:group/remove', (c) => act(c, () => ctx.state.control.setGroupMember(user(c), c.req.param('group') ?? '', false)));
  // SCIM provisioning targets (what an IdP admin configures for an app: base URL, token, pushed groups).
  if (scim) {
    app.post('/control/scim/targets', async (c) => {
      const parsed = ScimTarget.safeParse(await body(c));
      if (!parsed.success) return invalid(c, parsed.error.issues);
      const before = scim.deliveries.length;
      const target = await scim.connect(parsed.data);
      return c.json({ target, deliveries: scim.deliveries.slice(before) }, 201);
    });
    app.get('/control/scim/targets', (c) => c.json({ targets: scim.targets() }));
    app.delete('/control/scim/targets/:id', (c) => (scim.disconnect(c.req.param('id') ?? '') ? c.body(null, 204) : c.json({ error: 'not_found' }, 404)));
  }
  app.post('/control/events', async (c) => {
    const parsed = EmitRequest.safeParse(await body(c));
    if (!parsed.success) return invalid(c, parsed.error.issues);
    const { username, event, ...opts } = parsed.data;
    return act(c, () => ctx.state.control.emitSecurityEvent(username, event, opts));
  });
  app.get('/control/events', (c) => c.json({ events: DEMO_EVENT_TYPES }));

  return app;
}

function streamJson(issuer: string, s: ReturnType<DemoTransmitter['createStream']>) {
  const requested = s.eventsRequested;
  return {
    stream_id: s.streamId,
    iss: issuer,
    aud: s.aud,
    delivery: { method: s.delivery.method, endpoint_url: s.delivery.endpointUrl },
    events_supported: Object.values(DEMO_EVENT_TYPES),
    events_requested: requested,
    events_delivered: requested.filter((e) => Object.values(DEMO_EVENT_TYPES).includes(e)),
  };
}
