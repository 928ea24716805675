import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoEnterprise, type DemoAppName, type DemoEnterprise } from '../../tools/demo/index.js';
import { listen, type Listener } from '../../tools/demo/listen.js';
import { createSaasApp } from '../../tools/demo/saas/app.js';
import { createSaasContext } from '../../tools/demo/saas/context.js';
import { APP_DEFINITIONS } from '../../tools/demo/seed.js';
import { DemoState } from '../../tools/demo/state.js';
import { appClientAuth, basic, decodePart, exchange, jwtBearer, loginAtIdp, startFakeIdp, type FakeIdp } from './helpers.js';

describe('app AS: ID-JAG checks (jwt-bearer, RFC 7523 + the draft)', () => {
  // A calendar AS that trusts a stand-in IdP whose key the test holds, so each claim can be forged.
  let idp: FakeIdp;
  let app: Listener;
  beforeAll(async () => {
    idp = await startFakeIdp();
    app = await listen('127.0.0.1', 0);
    const hono = createSaasApp(await createSaasContext(APP_DEFINITIONS.calendar, app.origin, idp.issuer, new DemoState()));
    app.setHandler((req) => hono.fetch(req));
  });
  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: idp.issuer,
    sub: 'u-alice',
    aud: app.origin,
    client_id: 'xaa-gateway',
    jti: randomBytes(8).toString('hex'),
    iat: now(),
    exp: now() + 300,
    resource: `${app.origin}/api`,
    scope: 'calendar.read',
    email: 'alice@acme.example',
    ...over,
  });

  it('grants a Bearer token for a valid ID-JAG', async () => {
    const res = await jwtBearer('calendar', app.origin, await idp.sign(claims({ scope: 'calendar.read calendar.write' })), { scope: 'calendar.read' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'calendar.read' });
    expect(res.body.refresh_token).toBeUndefined();
    expect(decodePart(res.body.access_token, 1)).toMatchObject({ aud: `${app.origin}/api`, sub: 'u-alice', client_id: 'xaa-gateway', scope: 'calendar.read' });
  });

  type Case = {
    name: string;
    assertion: () => Promise<string>;
    extra?: Record<string, string>;
    auth?: () => { form: Record<string, string>; headers: Record<string, string> };
    status: number;
    error: string;
  };
  const cases: Case[] = [
    { name: 'wrong typ', assertion: () => idp.sign(claims(), { typ: 'JWT' }), status: 400, error: 'invalid_grant' },
    { name: 'bad signature (other key)', assertion: () => idp.sign(claims(), { otherKey: true }), status: 400, error: 'invalid_grant' },
    { name: 'wrong iss', assertion: () => idp.sign(claims({ iss: 'http://127.0.0.1:9/' })), status: 400, error: 'invalid_grant' },
    { name: 'wrong aud', assertion: () => idp.sign(claims({ aud: 'http://127.0.0.1:9' })), status: 400, error: 'invalid_grant' },
    { name: 'client_id mismatch', assertion: () => idp.sign(claims({ client_id: 'someone-else' })), status: 400, error: 'invalid_grant' },
    { name: 'expired', assertion: () => idp.sign(claims({ iat: now() - 600, exp: now() - 120 })), status: 400, error: 'invalid_grant' },
    { name: 'iat in the future', assertion: () => idp.sign(claims({ iat: now() + 600, exp: now() + 900 })), status: 400, error: 'invalid_grant' },
    { name: 'no jti', assertion: () => idp.sign(claims({ jti: undefined })), status: 400, error: 'invalid_grant' },
    { name: 'foreign resource', assertion: () => idp.sign(claims({ resource: 'http://127.0.0.1:9/api' })), status: 400, error: 'invalid_grant' },
    { name: 'scope not in the ID-JAG', assertion: () => idp.sign(claims()), extra: { scope: 'calendar.write' }, status: 400, error: 'invalid_scope' },
    { name: 'no app scope in the ID-JAG', assertion: () => idp.sign(claims({ scope: 'crm.read' })), status: 400, error: 'invalid_scope' },
    {
      name: 'bad client secret',
      assertion: () => idp.sign(claims()),
      auth: () => ({ form: {}, headers: { Authorization: basic('xaa-gateway', 'wrong') } }),
      status: 401,
      error: 'invalid_client',
    },
    { name: 'no client authentication', assertion: () => idp.sign(claims()), auth: () => ({ form: {}, headers: {} }), status: 401, error: 'invalid_client' },
    {
      name: 'client_secret_post where basic is registered',
      assertion: () => idp.sign(claims()),
      auth: () => ({ form: { client_id: 'xaa-gateway', client_secret: 'x' }, headers: {} }),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'other grant type',
      assertion: () => idp.sign(claims()),
      extra: { grant_type: 'client_credentials' },
      status: 400,
      error: 'unsupported_grant_type',
    },
    { name: 'missing assertion', assertion: async () => '', status: 400, error: 'invalid_request' },
  ];

  it.each(cases)('refuses: $name -> $status $error', async (c) => {
    const assertion = await c.assertion();
    const res = await jwtBearer('calendar', app.origin, assertion, c.extra, c.auth?.());
    expect({ status: res.status, error: res.body.error }).toEqual({ status: c.status, error: c.error });
    expect(res.body.error_description).toEqual(expect.any(String));
    if (c.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('refuses a replayed jti', async () => {
    const assertion = await idp.sign(claims());
    expect((await jwtBearer('calendar', app.origin, assertion)).status).toBe(200);
    const again = await jwtBearer('calendar', app.origin, assertion);
    expect({ status: again.status, error: again.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect(again.body.error_description).toMatch(/replay/);
  });
});

describe('demo apps end to end (real IdP, real AS, real API)', () => {
  let demo: DemoEnterprise;
  let idToken: string;
  beforeAll(async () => {
    demo = await startDemoEnterprise({ ports: 'random' });
    idToken = (await loginAtIdp(demo, 'alice')).id_token;
  });
  afterAll(async () => {
    await demo?.stop();
  });

  async function accessToken(app: DemoAppName, scope: string, resource = `${demo.urls[app]}/api`) {
    const jag = await exchange(demo, idToken, app, { params: { scope, resource } });
    expect(jag.status).toBe(200);
    const at = await jwtBearer(app, demo.urls[app], jag.body.access_token, { scope });
    expect(at.status).toBe(200);
    return at.body.access_token as string;
  }
  const get = (url: string, token?: string) => fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const post = (url: string, body: unknown, token: string) =>
    fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  it('publishes AS metadata with jwt-bearer and the registered client auth method', async () => {
    const expected: Record<DemoAppName, string> = {
      calendar: 'client_secret_basic',
      expenses: 'client_secret_post',
      crm: 'private_key_jwt',
      chat: 'client_secret_basic',
      payroll: 'client_secret_basic',
    };
    for (const [app, method] of Object.entries(expected) as Array<[DemoAppName, string]>) {
      const meta = (await (await get(`${demo.urls[app]}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      expect(meta).toMatchObject({ issuer: demo.urls[app], token_endpoint: `${demo.urls[app]}/token`, token_endpoint_auth_methods_supported: [method] });
      expect(meta.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:jwt-bearer');
    }
  });

  it('calendar: free slots echo the acting user; counters move', async () => {
    const before = { grants: demo.stats.jwtBearerGrants.calendar, calls: demo.stats.apiCalls.calendar };
    const token = await accessToken('calendar', 'calendar.read');
    const res = await get(`${demo.urls.calendar}/api/free-slots?date=2025-06-10&durationMinutes=60`, token);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ date: '2025-06-10', actingFor: { sub: 'u-alice', email: 'alice@acme.example' } });
    expect(body.slots.length).toBeGreaterThan(0);
    expect(Date.parse(body.slots[0].end) - Date.parse(body.slots[0].start)).toBe(3_600_000);
    expect(demo.stats.jwtBearerGrants.calendar).toBe(before.grants + 1);
    expect(demo.stats.apiCalls.calendar).toBe(before.calls + 1);
  });

  it('calendar: 403 insufficient_scope, then 201 with calendar.write; 400 on bad input', async () => {
    const meeting = { title: 'QBR prep', start: '2025-06-10T14:00:00.000Z', durationMinutes: 30, attendees: ['bob@acme.example'] };
    const readOnly = await accessToken('calendar', 'calendar.read');
    const denied = await post(`${demo.urls.calendar}/api/meetings`, meeting, readOnly);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="calendar.write"');
    expect(await denied.json()).toEqual({ error: 'insufficient_scope', required: ['calendar.write'] });
    const write = await accessToken('calendar', 'calendar.write');
    const created = await post(`${demo.urls.calendar}/api/meetings`, meeting, write);
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ ...meeting, id: expect.any(String), organizer: 'alice@acme.example', actingFor: { sub: 'u-alice' } });
    const bad = await post(`${demo.urls.calendar}/api/meetings`, { ...meeting, attendees: ['not-an-email'] }, write);
    expect(bad.status).toBe(400);
  });

  it.each([
    ['no token', undefined, 'Bearer resource_metadata='],
    ['garbage token', 'abc.def.ghi', 'Bearer error="invalid_token"'],
  ])('API: 401 with %s', async (_n, token, challenge) => {
    const res = await get(`${demo.urls.expenses}/api/approvals?status=pending`, token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(challenge);
  });

  it('API: a token for another resource (aud) is refused; revokeAccessTokens kills issued tokens', async () => {
    const token = await accessToken('expenses', 'expenses.read');
    const ok = await get(`${demo.urls.expenses}/api/approvals?status=pending`, token);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).approvals).toHaveLength(3);
    const calToken = await accessToken('calendar', 'calendar.read');
    expect((await get(`${demo.urls.expenses}/api/approvals`, calToken)).status).toBe(401);
    demo.control.revokeAccessTokens('expenses');
    const revoked = await get(`${demo.urls.expenses}/api/approvals`, token);
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const fresh = await accessToken('expenses', 'expenses.read');
    expect((await get(`${demo.urls.expenses}/api/approvals`, fresh)).status).toBe(200);
  });

  it('crm (private_key_jwt): customer, search and 404; a replayed client assertion is refused', async () => {
    const token = await accessToken('crm', 'crm.read');
    const one = await get(`${demo.urls.crm}/api/customers/cus_1001`, token);
    expect(await one.json()).toMatchObject({ id: 'cus_1001', name: 'Acme Rockets', actingFor: { email: 'alice@acme.example' } });
    const search = (await (await get(`${demo.urls.crm}/api/customers?query=acme`, token)).json()) as any;
    expect(search.customers.map((c: { id: string }) => c.id)).toEqual(['cus_1001', 'cus_1004']);
    const missing = await get(`${demo.urls.crm}/api/customers/cus_9`, token);
    expect([missing.status, ((await missing.json()) as any).error]).toEqual([404, 'not_found']);

    const auth = await appClientAuth('crm', demo.urls.crm);
    const jag1 = (await exchange(demo, idToken, 'crm')).body.access_token;
    const jag2 = (await exchange(demo, idToken, 'crm')).body.access_token;
    expect((await jwtBearer('crm', demo.urls.crm, jag1, {}, auth)).status).toBe(200);
    const replay = await jwtBearer('crm', demo.urls.crm, jag2, {}, auth);
    expect({ status: replay.status, error: replay.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('chat: posts as the user (chat takes only DPoP-bound tokens, test/demo/dpop.test.ts: switched to optional here)', async () => {
    demo.control.setDpopPolicy('chat', { dpop: 'optional' });
    let res: Response;
    try {
      res = await post(`${demo.urls.chat}/api/channels/sales/messages`, { text: 'Hello from the agent' }, await accessToken('chat', 'chat.write'));
    } finally {
      demo.control.setDpopPolicy('chat', { dpop: 'required', dpopNonce: true });
    }
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ channel: 'sales', text: 'Hello from the agent', postedBy: 'alice@acme.example', actingFor: { sub: 'u-alice' } });
  });

  describe('CRM MCP server', () => {
    const rpc = (token: string | undefined, method: string, params: unknown = {}) =>
      fetch(`${demo.urls.crm}/mcp`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'MCP-Protocol-Version': '2025-06-18',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });

    it('401 with resource_metadata, and that RFC 9728 document', async () => {
      const res = await rpc(undefined, 'tools/list');
      expect(res.status).toBe(401);
      const meta = `${demo.urls.crm}/.well-known/oauth-protected-resource/mcp`;
      expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${meta}"`);
      const withBad = await rpc('abc', 'tools/list');
      expect(withBad.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer error="invalid_token".*resource_metadata="${meta}"`));
      const doc = (await (await fetch(meta)).json()) as Record<string, unknown>;
      expect(doc).toMatchObject({ resource: `${demo.urls.crm}/mcp`, authorization_servers: [demo.urls.crm], scopes_supported: ['crm.read', 'crm.write'] });
      expect((await fetch(`${demo.urls.crm}/.well-known/oauth-protected-resource`)).status).toBe(404);
    });

    it('an /api token is refused at /mcp (audience)', async () => {
      const apiToken = await accessToken('crm', 'crm.read');
      expect((await rpc(apiToken, 'tools/list')).status).toBe(401);
    });

    it('lists and calls tools as the user; delete_customer needs crm.write (403)', async () => {
      const token = await accessToken('crm', 'crm.read', `${demo.urls.crm}/mcp`);
      const list = (await (await rpc(token, 'tools/list')).json()) as any;
      expect(list.result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['delete_customer', 'lookup_customer', 'search_customers']);
      const call = (await (await rpc(token, 'tools/call', { name: 'lookup_customer', arguments: { customerId: 'cus_1002' } })).json()) as any;
      expect(call.result.structuredContent).toMatchObject({
        customer: { name: 'Globex Corporation' },
        actingFor: { sub: 'u-alice', email: 'alice@acme.example' },
      });
      const del = await rpc(token, 'tools/call', { name: 'delete_customer', arguments: { customerId: 'cus_1002' } });
      expect(del.status).toBe(403);
      expect(del.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="crm.write"');
    });
  });
});
