import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { enterpriseAgentIdJag, enterpriseAgentIdToken } from '../../tools/demo/enterprise-agent.js';
import { userMayUseGateway } from '../../tools/demo/idp/gateways.js';
import { startDemoEnterprise, type DemoAppName, type DemoEnterprise } from '../../tools/demo/index.js';
import { readDemoSecret } from '../../tools/demo/secrets.js';
import { decodePart, exchange, ID_JAG, jwtBearer, loginAtIdp } from './helpers.js';

/**
 * The demo IdP's side of draft-parecki-oauth-identity-assertion-gateways: ID-JAGs whose audience is a
 * gateway's authorization server (for `enterprise-agent`), and the chained exchange by which the
 * gateway (`xaa-gateway`) trades such an ID-JAG for one to an upstream app.
 */

// Nothing listens on these: the IdP only needs to know them.
const GW = 'http://127.0.0.1:1/gw';
const GW_SCOPES = ['mcp.tools', 'mcp.admin'];
/** A second gateway, operated by another client. */
const OTHER_GW = 'http://127.0.0.1:2/gw';

let demo: DemoEnterprise;
beforeAll(async () => {
  demo = await startDemoEnterprise({ ports: 'random' });
  demo.trustGateway({ issuer: GW, resource: `${GW}/mcp`, scopes: GW_SCOPES });
  demo.trustGateway({ issuer: OTHER_GW, resource: `${OTHER_GW}/mcp`, scopes: ['mcp.tools'], operatedBy: 'other-agent' });
});
afterAll(async () => {
  await demo?.stop();
});
afterEach(() => {
  vi.useRealTimers();
});

/** The ID-JAG `enterprise-agent` got for the gateway: what the gateway presents as subject_token. */
async function subjectFor(username = 'alice', audience = GW): Promise<string> {
  return (await enterpriseAgentIdJag(demo, { username, audience, resource: `${audience}/mcp` })).idJag;
}

/** The chained exchange at the IdP: subject_token_type id-jag, by default as xaa-gateway for the app's /api. */
function chain(subject: string, app: DemoAppName, opts: { clientId?: string; params?: Record<string, string | undefined> } = {}) {
  return exchange(demo, subject, app, { ...opts, params: { subject_token_type: ID_JAG, ...opts.params } });
}

describe('ID-JAGs for a gateway authorization server (ordinary exchange)', () => {
  it('enterprise-agent gets an ID-JAG with aud = the gateway issuer and its own client_id', async () => {
    const { idJag, idToken } = await enterpriseAgentIdJag(demo, { username: 'alice', audience: GW, resource: `${GW}/mcp`, scope: 'mcp.tools' });
    expect(decodePart(idToken, 1)).toMatchObject({ aud: 'enterprise-agent', sub: 'u-alice' });
    expect(decodePart(idJag, 0)).toMatchObject({ alg: 'ES256', typ: 'oauth-id-jag+jwt' });
    const claims = decodePart(idJag, 1);
    expect(claims).toMatchObject({
      iss: demo.urls.idp,
      sub: 'u-alice',
      aud: GW,
      client_id: 'enterprise-agent',
      resource: `${GW}/mcp`,
      scope: 'mcp.tools',
      email: 'alice@acme.example',
      jti: expect.any(String),
    });
    expect(claims.act).toBeUndefined();
    expect(claims.exp - claims.iat).toBe(300);
  });

  it('without scope and resource: every scope of the gateway, no resource claim', async () => {
    const claims = decodePart((await enterpriseAgentIdJag(demo, { username: 'bob', audience: GW })).idJag, 1);
    expect(claims).toMatchObject({ aud: GW, sub: 'u-bob', scope: GW_SCOPES.join(' ') });
    expect(claims.resource).toBeUndefined();
  });

  const toGateway = { audience: GW, resource: `${GW}/mcp`, scope: 'mcp.tools' };
  it.each([
    { name: 'other-agent has no gateway connection', login: 'other-agent', params: toGateway, error: 'access_denied' },
    { name: 'xaa-gateway has no gateway connection either', login: 'xaa-gateway', params: toGateway, error: 'access_denied' },
    { name: 'resource that is not the gateway’s', login: 'enterprise-agent', params: { ...toGateway, resource: `${GW}/other` }, error: 'invalid_target' },
    {
      name: 'scope the gateway does not define',
      login: 'enterprise-agent',
      params: { ...toGateway, scope: 'mcp.tools calendar.read' },
      error: 'invalid_scope',
    },
    { name: 'unknown audience', login: 'enterprise-agent', params: { ...toGateway, audience: 'http://127.0.0.1:1/nope' }, error: 'invalid_target' },
  ])('refuses: $name -> 400 $error', async ({ login, params, error }) => {
    const { id_token } = await loginAtIdp(demo, 'alice', { clientId: login, scope: 'openid email' });
    const res = await exchange(demo, id_token, 'calendar', { clientId: login, params });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error });
    expect(res.body.access_token).toBeUndefined();
  });

  it('the admin disabling enterprise-agent -> gateway refuses it (access_denied)', async () => {
    demo.control.setGatewayConnection('enterprise-agent', false);
    try {
      await expect(enterpriseAgentIdJag(demo, { username: 'alice', audience: GW })).rejects.toThrow(
        /400 access_denied: the connection enterprise-agent -> gateway/,
      );
    } finally {
      demo.control.setGatewayConnection('enterprise-agent', true);
    }
  });

  it('policy: every active user may use the gateway, an inactive one may not', async () => {
    expect(userMayUseGateway({ active: true })).toBe(true);
    expect(userMayUseGateway({ active: false })).toBe(false);
    const idToken = await enterpriseAgentIdToken(demo, { username: 'bob' });
    demo.control.setUserActive('bob', false);
    try {
      const res = await exchange(demo, idToken, 'calendar', { clientId: 'enterprise-agent', params: toGateway });
      expect([res.status, res.body.error, res.body.error_description]).toEqual([400, 'invalid_grant', 'user account is inactive']);
    } finally {
      demo.control.setUserActive('bob', true);
    }
  });
});

describe('the gateway registry', () => {
  const admin = { Authorization: `Bearer ${readDemoSecret('idp-admin-token')}`, 'Content-Type': 'application/json' };
  const post = (body: unknown, headers: Record<string, string> = admin) =>
    fetch(`${demo.urls.idp}/control/gateways`, { method: 'POST', headers, body: JSON.stringify(body) });
  const listed = async () => ((await (await fetch(`${demo.urls.idp}/control/gateways`, { headers: admin })).json()) as { gateways: any[] }).gateways;
  const issuer = 'http://127.0.0.1:3/registered';

  it('POST /control/gateways registers one (the same issuer replaces it), GET lists them', async () => {
    const first = await post({ issuer, resource: `${issuer}/mcp`, scopes: ['a'] });
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ gateway: { issuer, resource: `${issuer}/mcp`, scopes: ['a'], operatedBy: 'xaa-gateway' } });
    expect((await post({ issuer, resource: `${issuer}/mcp`, scopes: ['b'], operatedBy: 'other-agent' })).status).toBe(201);
    const mine = (await listed()).filter((g) => g.issuer === issuer);
    expect(mine).toEqual([{ issuer, resource: `${issuer}/mcp`, scopes: ['b'], operatedBy: 'other-agent' }]);
    expect((await listed()).map((g) => g.issuer)).toEqual(expect.arrayContaining([GW, OTHER_GW]));
  });

  it.each([
    ['no admin token', { issuer, resource: `${issuer}/mcp`, scopes: [] }, { 'Content-Type': 'application/json' }, 401, 'invalid_token', undefined],
    ['issuer with trailing slash', { issuer: `${issuer}/`, resource: `${issuer}/mcp`, scopes: [] }, admin, 400, 'invalid_request', /^issuer: /],
    ['unknown operator', { issuer, resource: `${issuer}/mcp`, scopes: [], operatedBy: 'nobody' }, admin, 400, 'invalid_request', /^operatedBy: /],
    ['an app’s issuer', 'calendar', admin, 400, 'invalid_request', /^issuer: .* already/],
    ['scope with a space', { issuer, resource: `${issuer}/mcp`, scopes: ['a b'] }, admin, 400, 'invalid_request', /^scopes\.0: /],
  ])('refuses: %s -> %i %s', async (_n, body, headers, status, error, description) => {
    const gateway = body === 'calendar' ? { issuer: demo.urls.calendar, resource: `${demo.urls.calendar}/mcp`, scopes: [] } : body;
    const res = await post(gateway, headers);
    const json = (await res.json()) as Record<string, string>;
    expect([res.status, json.error]).toEqual([status, error]);
    if (description) expect(json.error_description).toMatch(description);
  });

  it('trustGateway throws on bad input, naming the field', () => {
    expect(() => demo.trustGateway({ issuer: 'not a url', resource: `${GW}/mcp`, scopes: [] })).toThrow(/^issuer: /);
  });
});

describe('the chained exchange (subject_token_type id-jag)', () => {
  it('issues an ID-JAG for the app: same sub, client_id and act of the gateway, the original client nested, no refresh token', async () => {
    const subject = await subjectFor('alice');
    const before = { ...demo.stats };
    const res = await chain(subject, 'calendar', { params: { scope: 'calendar.read' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ issued_token_type: ID_JAG, token_type: 'N_A', scope: 'calendar.read' });
    expect(res.body).not.toHaveProperty('refresh_token');
    expect(decodePart(res.body.access_token, 0)).toMatchObject({ alg: 'ES256', typ: 'oauth-id-jag+jwt' });
    const claims = decodePart(res.body.access_token, 1);
    const sub = decodePart(subject, 1);
    expect(claims).toEqual({
      iss: demo.urls.idp,
      sub: 'u-alice',
      aud: demo.urls.calendar,
      client_id: 'xaa-gateway',
      act: { sub: 'xaa-gateway', act: { sub: 'enterprise-agent' } },
      resource: `${demo.urls.calendar}/api`,
      scope: 'calendar.read',
      email: 'alice@acme.example',
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(claims.jti).not.toBe(sub.jti);
    expect(claims.exp).toBeLessThanOrEqual(sub.exp);
    expect(res.body.expires_in).toBe(claims.exp - claims.iat);
    expect(demo.stats.chainedExchanges).toBe(before.chainedExchanges + 1);
    expect(demo.stats.tokenExchanges).toBe(before.tokenExchanges + 1);

    // The app's AS takes it like any ID-JAG: the gateway authenticates there as xaa-gateway.
    const grant = await jwtBearer('calendar', demo.urls.calendar, res.body.access_token, { scope: 'calendar.read' });
    expect(grant.status).toBe(200);
  });

  it('is not single use: one subject ID-JAG serves several audiences, and the same one twice', async () => {
    const subject = await subjectFor('alice');
    const before = demo.stats.chainedExchanges;
    const crm = await chain(subject, 'crm', { params: { resource: `${demo.urls.crm}/mcp`, scope: 'crm.read crm.write' } });
    const cal1 = await chain(subject, 'calendar');
    const cal2 = await chain(subject, 'calendar');
    expect([crm.status, cal1.status, cal2.status]).toEqual([200, 200, 200]);
    expect(decodePart(crm.body.access_token, 1)).toMatchObject({ aud: demo.urls.crm, resource: `${demo.urls.crm}/mcp`, scope: 'crm.read crm.write' });
    expect(decodePart(cal2.body.access_token, 1).jti).not.toBe(decodePart(cal1.body.access_token, 1).jti);
    expect(demo.stats.chainedExchanges).toBe(before + 3);
  });

  it('never outlives the subject token: exp = the subject’s once it is nearer than the TTL; refused once expired', async () => {
    const subject = await subjectFor('alice');
    const subjectExp = decodePart(subject, 1).exp as number;
    vi.useFakeTimers({ toFake: ['Date'], now: (subjectExp - 100) * 1000 });
    const late = await chain(subject, 'calendar');
    expect(late.status).toBe(200);
    expect(decodePart(late.body.access_token, 1).exp).toBe(subjectExp);
    expect(late.body.expires_in).toBe(100);
    vi.setSystemTime(subjectExp * 1000);
    const expired = await chain(subject, 'calendar');
    expect([expired.status, expired.body.error, expired.body.error_description]).toEqual([400, 'invalid_grant', 'subject_token is expired']);
  });

  /** An ID-JAG with the IdP's kid and the subject's claims, signed by a key the IdP never had. */
  async function forged(claims: Record<string, unknown>, header: Record<string, unknown>): Promise<string> {
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT(claims).setProtectedHeader({ ...header, alg: 'ES256' }).sign(privateKey);
  }

  type Case = {
    name: string;
    /** The subject token (default: alice's ID-JAG for GW from enterprise-agent). */
    subject?: () => Promise<string>;
    app?: DemoAppName;
    clientId?: string;
    params?: Record<string, string | undefined>;
    setup?: () => void;
    teardown?: () => void;
    status: number;
    error: string;
    description: string | RegExp;
  };
  const NOT_PERMITTED = 'the audience is unknown or not permitted for xaa-gateway';
  const cases: Case[] = [
    {
      name: 'self-chaining: audience = the gateway’s own issuer (step 5)',
      params: { audience: GW, resource: `${GW}/mcp`, scope: 'mcp.tools' },
      status: 400,
      error: 'invalid_target',
      description: `audience "${GW}" is an authorization server operated by xaa-gateway: a gateway may not chain to itself`,
    },
    {
      name: 'subject already chained, with act (step 6: one hop)',
      subject: async () => (await chain(await subjectFor('alice'), 'calendar')).body.access_token,
      status: 400,
      error: 'invalid_grant',
      description: /already has an act claim/,
    },
    {
      name: 'subject issued for an app, not for a gateway the client operates (step 3)',
      subject: async () => (await exchange(demo, (await loginAtIdp(demo, 'alice')).id_token, 'chat')).body.access_token,
      status: 400,
      error: 'invalid_grant',
      description: 'subject_token was not issued to an authorization server operated by xaa-gateway',
    },
    {
      name: 'subject presented by a client that does not operate the gateway (step 3)',
      clientId: 'other-agent',
      status: 400,
      error: 'invalid_grant',
      description: 'subject_token was not issued to an authorization server operated by other-agent',
    },
    {
      name: 'subject issued for another client’s gateway (step 3)',
      subject: () => subjectFor('alice', OTHER_GW),
      status: 400,
      error: 'invalid_grant',
      description: 'subject_token was not issued to an authorization server operated by xaa-gateway',
    },
    {
      name: 'forged subject, signed by another key (step 2)',
      subject: async () => {
        const real = await subjectFor('alice');
        return forged(decodePart(real, 1), decodePart(real, 0));
      },
      status: 400,
      error: 'invalid_grant',
      description: "subject_token's signature does not verify with this IdP's key",
    },
    {
      name: 'wrong typ: an ID token of this IdP as id-jag (step 2)',
      subject: () => enterpriseAgentIdToken(demo, { username: 'alice' }),
      status: 400,
      error: 'invalid_grant',
      description: 'subject_token is not an ID-JAG (typ must be oauth-id-jag+jwt)',
    },
    { name: 'garbage subject (step 2)', subject: () => Promise.resolve('not-a-jwt'), status: 400, error: 'invalid_grant', description: /not a valid ID-JAG/ },
    {
      name: 'inactive user (step 4)',
      subject: () => subjectFor('bob'),
      setup: () => demo.control.setUserActive('bob', false),
      teardown: () => demo.control.setUserActive('bob', true),
      status: 400,
      error: 'invalid_grant',
      description: 'user account is inactive',
    },
    {
      name: 'user not assigned to the app (bob -> crm, step 4)',
      subject: () => subjectFor('bob'),
      app: 'crm',
      status: 400,
      error: 'access_denied',
      description: 'user is not assigned to crm',
    },
    { name: 'gateway -> app connection disabled (payroll, step 4)', app: 'payroll', status: 400, error: 'invalid_target', description: NOT_PERMITTED },
    {
      name: 'unknown audience: same answer as a disabled one',
      params: { audience: 'http://127.0.0.1:1/nope', resource: undefined },
      status: 400,
      error: 'invalid_target',
      description: NOT_PERMITTED,
    },
    {
      name: 'another client’s gateway as audience: same answer (no gateway-to-gateway hop)',
      params: { audience: OTHER_GW, resource: undefined, scope: 'mcp.tools' },
      status: 400,
      error: 'invalid_target',
      description: NOT_PERMITTED,
    },
    {
      name: 'original client’s gateway connection disabled since (step 4)',
      setup: () => demo.control.setGatewayConnection('enterprise-agent', false),
      teardown: () => demo.control.setGatewayConnection('enterprise-agent', true),
      status: 400,
      error: 'access_denied',
      description: 'the connection enterprise-agent -> gateway is disabled by the administrator',
    },
    {
      name: 'resource of another app',
      params: { resource: `${GW}/mcp` },
      status: 400,
      error: 'invalid_target',
      description: /does not belong to/,
    },
    { name: 'scope the app does not define', params: { scope: 'calendar.read mcp.tools' }, status: 400, error: 'invalid_scope', description: /mcp\.tools/ },
    { name: 'actor_token', params: { actor_token: 'x', actor_token_type: ID_JAG }, status: 400, error: 'invalid_request', description: /actor_token/ },
    { name: 'no audience', params: { audience: undefined }, status: 400, error: 'invalid_request', description: 'missing parameter "audience"' },
  ];

  it.each(cases)('refuses: $name -> $status $error', async (c) => {
    const subject = await (c.subject ?? (() => subjectFor('alice')))();
    const before = demo.stats.chainedExchanges;
    c.setup?.();
    try {
      const res = await chain(subject, c.app ?? 'calendar', { ...(c.clientId ? { clientId: c.clientId } : {}), ...(c.params ? { params: c.params } : {}) });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: c.status, error: c.error });
      if (typeof c.description === 'string') expect(res.body.error_description).toBe(c.description);
      else expect(res.body.error_description).toMatch(c.description);
      expect(res.body.access_token).toBeUndefined();
      expect(demo.stats.chainedExchanges).toBe(before);
    } finally {
      c.teardown?.();
    }
  });

  it('after a refusal for a disabled connection, enabling it lets the same subject through', async () => {
    const subject = await subjectFor('alice');
    expect((await chain(subject, 'payroll')).body.error).toBe('invalid_target');
    demo.control.setConnection('xaa-gateway', 'payroll', true);
    try {
      const res = await chain(subject, 'payroll');
      expect(res.status).toBe(200);
      expect(decodePart(res.body.access_token, 1)).toMatchObject({ aud: demo.urls.payroll, sub: 'u-alice' });
    } finally {
      demo.control.setConnection('xaa-gateway', 'payroll', false);
    }
  });
});
