import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, type RuntimeConfig } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { createXaaPort, type XaaClient } from '../../src/xaa/index.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

/** The protocol client (src/xaa) against the demo enterprise over real HTTP: the two grants and their refusals. */
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
let env: Env;
let rt: RuntimeConfig;
let xaa: XaaClient;
let idToken: (user: string) => string;

beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
  await env.signIn('bob', 'bob-demo-pass');
  rt = loadConfigFile(env.configPath);
  xaa = createXaaPort(defaultDeps);
  idToken = (user) => JSON.parse(readFileSync(env.credentials(user), 'utf8')).idToken;
});
afterAll(() => env?.close());

async function exchange(user: string, app: 'calendar' | 'crm' | 'payroll', scopes: string[]) {
  const r = rt.config.resources[app]!;
  const [idp, as] = await Promise.all([xaa.discover(rt.config.idp.issuer, { role: 'idp' }), xaa.discover(r.authorizationServer)]);
  const idJag = await xaa.requestIdJag({
    idp,
    client: rt.idpClient,
    subjectToken: idToken(user),
    subjectTokenType: ID_TOKEN,
    audience: as.issuer,
    resource: r.resource,
    scopes,
  });
  return { idJag, as, client: rt.resourceClients.get(app)! };
}

describe('ID-JAG grants against the demo enterprise', () => {
  it('token exchange then jwt-bearer yields a token for that user, audience and scope', async () => {
    const { idJag, as, client } = await exchange('alice', 'calendar', ['calendar.read']);
    expect(idJag).toMatchObject({ jti: expect.any(String), scopes: ['calendar.read'] });
    const token = await xaa.redeemIdJag({ as, client, idJag: idJag.idJag, scopes: ['calendar.read'] });
    expect(token).toMatchObject({ tokenType: 'Bearer', scopes: ['calendar.read'] });
    const res = await fetch(`${env.demo.urls.calendar}/api/free-slots?date=2026-12-01`, { headers: { authorization: `Bearer ${token.accessToken}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ actingFor: { sub: 'u-alice', email: 'alice@acme.example' } });
  });

  it('a replayed ID-JAG is refused with invalid_grant (single-use jti)', async () => {
    const { idJag, as, client } = await exchange('alice', 'calendar', ['calendar.read']);
    await xaa.redeemIdJag({ as, client, idJag: idJag.idJag, scopes: ['calendar.read'] });
    const replay = xaa.redeemIdJag({ as, client, idJag: idJag.idJag, scopes: ['calendar.read'] });
    await expect(replay).rejects.toMatchObject({ code: 'jwt_bearer_failed', oauthError: 'invalid_grant', status: 400 });
    await replay.catch((e: Error) => expect(e.message).not.toContain(idJag.idJag));
  });

  it('an ID-JAG for one app is refused by another app (audience)', async () => {
    const { idJag } = await exchange('alice', 'calendar', ['calendar.read']);
    const crm = await xaa.discover(rt.config.resources.crm!.authorizationServer);
    await expect(xaa.redeemIdJag({ as: crm, client: rt.resourceClients.get('crm')!, idJag: idJag.idJag, scopes: ['crm.read'] })).rejects.toMatchObject({
      code: 'jwt_bearer_failed',
      oauthError: 'invalid_grant',
    });
  });

  it.each([
    ['user not assigned to the app', 'bob', 'crm', ['crm.read'], 'access_denied'],
    ['managed connection disabled', 'alice', 'payroll', ['payroll.read'], 'access_denied'],
    ['scope the app does not define', 'alice', 'calendar', ['calendar.admin'], 'invalid_scope'],
  ] as const)('the IdP refuses: %s', async (_label, user, app, scopes, oauthError) => {
    await expect(exchange(user, app, [...scopes])).rejects.toMatchObject({ code: 'token_exchange_failed', oauthError, status: 400 });
  });

  it('a subject token the IdP no longer accepts is invalid_grant', async () => {
    env.demo.control.revokeUserSessions('bob');
    await expect(exchange('bob', 'calendar', ['calendar.read'])).rejects.toMatchObject({ code: 'token_exchange_failed', oauthError: 'invalid_grant' });
  });
});
