import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpopNonces, generateDpopKey, PROOF_ALGS, signProof, type DpopKey } from '../../src/dpop/index.js';
import { startDemoEnterprise, type DemoAppName, type DemoEnterprise } from '../../tools/demo/index.js';
import { APP_DEFINITIONS } from '../../tools/demo/seed.js';
import { appClientAuth, decodePart, exchange, JWT_BEARER, loginAtIdp, postForm } from './helpers.js';

/**
 * DPoP (RFC 9449) at the demo apps, over real HTTP: metadata (§5.1), the token endpoint (§5, nonces
 * §8) and the resource servers (§7, nonces §9), under each policy (seed.ts, control.setDpopPolicy).
 */

const ALGS = `algs="${PROOF_ALGS.join(' ')}"`;

describe('DPoP at the demo apps (RFC 9449)', () => {
  let demo: DemoEnterprise;
  let idToken: string;
  let key: DpopKey;
  let otherKey: DpopKey;
  beforeAll(async () => {
    demo = await startDemoEnterprise({ ports: 'random' });
    idToken = (await loginAtIdp(demo, 'alice')).id_token;
    [key, otherKey] = await Promise.all([generateDpopKey(), generateDpopKey()]);
  });
  afterAll(async () => {
    await demo?.stop();
  });

  const proof = (p: { htm?: string; htu: string; accessToken?: string; nonce?: string; key?: DpopKey }) =>
    signProof(p.key ?? key, {
      htm: p.htm ?? 'POST',
      htu: p.htu,
      ...(p.accessToken ? { accessToken: p.accessToken } : {}),
      ...(p.nonce ? { nonce: p.nonce } : {}),
      now: Date.now(),
    });

  /** An ID-JAG from the demo IdP for `app` (token exchange). */
  async function idJag(app: DemoAppName, scope: string, resource = `${demo.urls[app]}/api`): Promise<string> {
    const res = await exchange(demo, idToken, app, { params: { scope, resource } });
    expect(res.status).toBe(200);
    return res.body.access_token as string;
  }

  /** The jwt-bearer grant at the app's AS, with a DPoP header when given (client authentication made anew: it is single use for crm). */
  async function grant(app: DemoAppName, assertion: string, dpop?: string) {
    const auth = await appClientAuth(app, demo.urls[app]);
    return postForm(`${demo.urls[app]}/token`, { grant_type: JWT_BEARER, assertion, ...auth.form }, { ...auth.headers, ...(dpop ? { DPoP: dpop } : {}) });
  }

  /** A token bound to `key`, answering one nonce challenge if the AS makes one. */
  async function boundToken(app: DemoAppName, scope: string, resource?: string): Promise<string> {
    const assertion = await idJag(app, scope, resource);
    const htu = `${demo.urls[app]}/token`;
    let res = await grant(app, assertion, await proof({ htu }));
    if (res.body.error === 'use_dpop_nonce') res = await grant(app, assertion, await proof({ htu, nonce: res.headers.get('dpop-nonce')! }));
    expect({ status: res.status, token_type: res.body.token_type }).toEqual({ status: 200, token_type: 'DPoP' });
    return res.body.access_token as string;
  }

  async function bearerToken(app: DemoAppName, scope: string): Promise<string> {
    const res = await grant(app, await idJag(app, scope));
    expect({ status: res.status, token_type: res.body.token_type }).toEqual({ status: 200, token_type: 'Bearer' });
    return res.body.access_token as string;
  }

  describe('metadata', () => {
    it.each([
      ['calendar', true],
      ['expenses', false],
      ['crm', true],
      ['chat', true],
      ['payroll', true],
    ] as Array<[DemoAppName, boolean]>)('%s: dpop_signing_alg_values_supported advertised: %s', async (app, advertised) => {
      const as = (await (await fetch(`${demo.urls[app]}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      const prm = (await (await fetch(`${demo.urls[app]}/.well-known/oauth-protected-resource/api`)).json()) as Record<string, unknown>;
      expect(as.dpop_signing_alg_values_supported).toEqual(advertised ? [...PROOF_ALGS] : undefined);
      // RFC 9728 §2: the resource says so too; it does not demand bound tokens under "optional".
      expect(prm.dpop_signing_alg_values_supported).toEqual(advertised ? [...PROOF_ALGS] : undefined);
      // Only chat demands bound tokens (the seed: "required").
      expect(prm.dpop_bound_access_tokens_required).toBe(app === 'chat' ? true : undefined);
    });
  });

  describe('token endpoint (RFC 9449 §5), optional policy', () => {
    it.each(['calendar', 'crm'] as DemoAppName[])('%s: a valid proof gets a DPoP token with cnf.jkt = the key thumbprint', async (app) => {
      const res = await grant(app, await idJag(app, APP_DEFINITIONS[app].scopes[0]!), await proof({ htu: `${demo.urls[app]}/token` }));
      expect({ status: res.status, token_type: res.body.token_type, nonce: res.headers.get('dpop-nonce') }).toEqual({
        status: 200,
        token_type: 'DPoP',
        nonce: null,
      });
      expect(decodePart(res.body.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    });

    it('without a proof: a Bearer token, no cnf', async () => {
      const token = await bearerToken('calendar', 'calendar.read');
      expect(decodePart(token, 1).cnf).toBeUndefined();
    });

    it('expenses ("none") ignores the DPoP header: Bearer, no cnf', async () => {
      const res = await grant('expenses', await idJag('expenses', 'expenses.read'), await proof({ htu: `${demo.urls.expenses}/token` }));
      expect({ status: res.status, token_type: res.body.token_type }).toEqual({ status: 200, token_type: 'Bearer' });
      expect(decodePart(res.body.access_token, 1).cnf).toBeUndefined();
    });

    const tokenUrl = () => `${demo.urls.calendar}/token`;
    it.each([
      { name: 'htu of another endpoint', dpop: () => proof({ htu: `${demo.urls.calendar}/api` }), description: /htu/ },
      { name: 'htm GET', dpop: () => proof({ htm: 'GET', htu: tokenUrl() }), description: /htm/ },
      { name: 'not a JWT', dpop: async () => 'not-a-proof', description: /exactly one proof JWT/ },
      { name: 'two proofs', dpop: async () => `${await proof({ htu: tokenUrl() })}, ${await proof({ htu: tokenUrl() })}`, description: /exactly one/ },
    ])('refuses a proof with $name: 400 invalid_dpop_proof, and the ID-JAG stays unspent', async (c) => {
      const assertion = await idJag('calendar', 'calendar.read');
      const res = await grant('calendar', assertion, await c.dpop());
      expect({ status: res.status, error: res.body.error, cache: res.headers.get('cache-control') }).toEqual({
        status: 400,
        error: 'invalid_dpop_proof',
        cache: 'no-store',
      });
      expect(res.body.error_description).toMatch(c.description);
      // The proof is checked before the grant, so nothing single use was consumed.
      expect((await grant('calendar', assertion, await proof({ htu: tokenUrl() }))).status).toBe(200);
    });

    it('refuses a replayed proof (same jti twice, §11.1)', async () => {
      const dpop = await proof({ htu: tokenUrl() });
      expect((await grant('calendar', await idJag('calendar', 'calendar.read'), dpop)).status).toBe(200);
      const again = await grant('calendar', await idJag('calendar', 'calendar.read'), dpop);
      expect({ status: again.status, error: again.body.error }).toEqual({ status: 400, error: 'invalid_dpop_proof' });
      expect(again.body.error_description).toMatch(/replayed/);
    });
  });

  describe('calendar API, optional policy (RFC 9449 §7)', () => {
    const url = () => `${demo.urls.calendar}/api/free-slots?date=2025-06-10&durationMinutes=60`;
    it('a bound token with its proof: 200; the same as Bearer: 401 invalid_token', async () => {
      const token = await boundToken('calendar', 'calendar.read');
      // htu is the URL without its query (§4.2).
      const ok = await fetch(url(), { headers: { Authorization: `DPoP ${token}`, DPoP: await proof({ htm: 'GET', htu: url(), accessToken: token }) } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ actingFor: { sub: 'u-alice' } });
      const asBearer = await fetch(url(), { headers: { Authorization: `Bearer ${token}` } });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token", error_description="[^"]*DPoP-bound[^"]*"/);
    });

    it('an unbound token: 200 as Bearer, 401 invalid_token with the DPoP scheme', async () => {
      const token = await bearerToken('calendar', 'calendar.read');
      expect((await fetch(url(), { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      const asDpop = await fetch(url(), { headers: { Authorization: `DPoP ${token}`, DPoP: await proof({ htm: 'GET', htu: url(), accessToken: token }) } });
      expect(asDpop.status).toBe(401);
      expect(await asDpop.json()).toEqual({ error: 'invalid_token' });
      expect(asDpop.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token", error_description="the access token is not DPoP-bound/);
    });

    it('403 insufficient_scope is challenged in the DPoP scheme for a bound token', async () => {
      const token = await boundToken('calendar', 'calendar.read');
      const meetings = `${demo.urls.calendar}/api/meetings`;
      const res = await fetch(meetings, {
        method: 'POST',
        headers: { Authorization: `DPoP ${token}`, DPoP: await proof({ htu: meetings, accessToken: token }), 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toBe('DPoP error="insufficient_scope", scope="calendar.write"');
    });
  });

  describe('chat: required + nonce (its seed policy; control.setDpopPolicy switches it)', () => {
    let unbound: string;
    const messages = () => `${demo.urls.chat}/api/channels/sales/messages`;
    const tokenUrl = () => `${demo.urls.chat}/token`;
    beforeAll(async () => {
      // An unbound token, issued while chat is switched to "optional" for a moment.
      demo.control.setDpopPolicy('chat', { dpop: 'optional' });
      unbound = await bearerToken('chat', 'chat.write');
      demo.control.setDpopPolicy('chat', { dpop: 'required', dpopNonce: true });
    });
    afterAll(() => {
      demo.control.setDpopPolicy('chat', { dpop: 'required', dpopNonce: true });
    });

    it('metadata says bound tokens are required (RFC 9728 §2)', async () => {
      const prm = (await (await fetch(`${demo.urls.chat}/.well-known/oauth-protected-resource/api`)).json()) as Record<string, unknown>;
      expect(prm).toMatchObject({ dpop_signing_alg_values_supported: [...PROOF_ALGS], dpop_bound_access_tokens_required: true });
    });

    it('refuses a policy that is not one', () => {
      expect(() => demo.control.setDpopPolicy('chat', { dpop: 'requried' as never })).toThrow();
    });

    it('AS: no proof -> 400 invalid_dpop_proof', async () => {
      const res = await grant('chat', await idJag('chat', 'chat.write'));
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_dpop_proof' });
      expect(res.body.error_description).toMatch(/only DPoP-bound tokens/);
    });

    it('AS nonce (§8): 400 use_dpop_nonce + DPoP-Nonce, the retry with it (same ID-JAG) -> 200 DPoP + a next nonce', async () => {
      const assertion = await idJag('chat', 'chat.write');
      const first = await grant('chat', assertion, await proof({ htu: tokenUrl() }));
      const nonce = first.headers.get('dpop-nonce');
      expect({ status: first.status, error: first.body.error, cache: first.headers.get('cache-control') }).toEqual({
        status: 400,
        error: 'use_dpop_nonce',
        cache: 'no-store',
      });
      expect(nonce).toMatch(/^[0-9a-z]+\.[\w-]{43}$/);
      const stale = await grant('chat', assertion, await proof({ htu: tokenUrl(), nonce: new DpopNonces(Buffer.alloc(32)).issue(Date.now()) }));
      expect({ status: stale.status, error: stale.body.error, nonce: !!stale.headers.get('dpop-nonce') }).toEqual({
        status: 400,
        error: 'use_dpop_nonce',
        nonce: true,
      });
      const retry = await grant('chat', assertion, await proof({ htu: tokenUrl(), nonce: nonce! }));
      expect({ status: retry.status, token_type: retry.body.token_type }).toEqual({ status: 200, token_type: 'DPoP' });
      expect(retry.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[\w-]{43}$/);
      expect(decodePart(retry.body.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    });

    describe('API misuse (§7.1, §7.2, §9)', () => {
      let token: string;
      let nonce: string;
      beforeAll(async () => {
        token = await boundToken('chat', 'chat.write');
        // The app's nonce, as the client learns it from a first challenge.
        const res = await send({ Authorization: `DPoP ${token}`, DPoP: await proof({ htu: messages(), accessToken: token }) });
        expect(res.status).toBe(401);
        nonce = res.headers.get('dpop-nonce')!;
      });
      const send = (headers: Record<string, string>, method = 'POST') =>
        fetch(messages(), { method, headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'hello' }) });
      const dpop = (over: { key?: DpopKey; htm?: string; htu?: string; ath?: boolean; nonce?: string | null } = {}) =>
        proof({
          htu: over.htu ?? messages(),
          ...(over.htm ? { htm: over.htm } : {}),
          ...(over.ath === false ? {} : { accessToken: token }),
          ...(over.nonce === null ? {} : { nonce: over.nonce ?? nonce }),
          ...(over.key ? { key: over.key } : {}),
        });

      type Case = {
        name: string;
        headers: () => Promise<Record<string, string>>;
        status: number;
        error?: string;
        challenge?: RegExp;
        freshNonce?: boolean;
      };
      const cases: Case[] = [
        {
          name: 'wrong key',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ key: otherKey }) }),
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="[^"]*another key[^"]*", algs=/,
        },
        {
          name: 'replayed proof',
          headers: async () => {
            const h = { Authorization: `DPoP ${token}`, DPoP: await dpop() };
            expect((await send(h)).status).toBe(201);
            return h;
          },
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="the proof was used before \(jti replayed\)"/,
        },
        {
          name: 'wrong htu',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ htu: `${demo.urls.chat}/api/channels/general/messages` }) }),
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="the proof's htu is /,
        },
        {
          name: 'wrong htm',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ htm: 'GET' }) }),
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="the proof's htm is 'GET'/,
        },
        {
          name: 'missing ath',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ ath: false }) }),
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="the proof has no ath/,
        },
        {
          name: 'no DPoP header',
          headers: async () => ({ Authorization: `DPoP ${token}` }),
          status: 401,
          error: 'invalid_dpop_proof',
          challenge: /^DPoP error="invalid_dpop_proof", error_description="the DPoP header is missing"/,
        },
        {
          name: 'absent nonce',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ nonce: null }) }),
          status: 401,
          error: 'use_dpop_nonce',
          challenge: /^DPoP error="use_dpop_nonce", error_description="a DPoP nonce is required", algs=/,
          freshNonce: true,
        },
        {
          name: 'stale nonce (not this app’s)',
          headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop({ nonce: new DpopNonces(Buffer.alloc(32)).issue(Date.now() - 600_000) }) }),
          status: 401,
          error: 'use_dpop_nonce',
          challenge: /^DPoP error="use_dpop_nonce", error_description="the DPoP nonce is stale"/,
          freshNonce: true,
        },
        {
          name: 'bound token as Bearer',
          headers: async () => ({ Authorization: `Bearer ${token}`, DPoP: await dpop() }),
          status: 401,
          error: 'invalid_token',
          challenge: /^DPoP error="invalid_token", error_description="the access token is DPoP-bound/,
        },
        {
          name: 'unbound token as Bearer (required policy)',
          headers: async () => ({ Authorization: `Bearer ${unbound}` }),
          status: 401,
          error: 'invalid_token',
          challenge: /^DPoP error="invalid_token", error_description="this resource takes only DPoP-bound access tokens/,
        },
        {
          name: 'no credentials',
          headers: async () => ({}),
          status: 401,
          error: 'invalid_token',
          challenge: new RegExp(`^DPoP ${ALGS}, resource_metadata="http://127\\.0\\.0\\.1:\\d+/\\.well-known/oauth-protected-resource/api"$`),
        },
        { name: 'a correct request', headers: async () => ({ Authorization: `DPoP ${token}`, DPoP: await dpop() }), status: 201 },
      ];

      it.each(cases)('$name -> $status $error', async (c) => {
        const res = await send(await c.headers());
        const body = (await res.json()) as Record<string, unknown>;
        expect({ status: res.status, error: body.error }).toEqual({ status: c.status, error: c.error });
        if (c.challenge) expect(res.headers.get('www-authenticate')).toMatch(c.challenge);
        const fresh = res.headers.get('dpop-nonce');
        expect(!!fresh).toBe(!!c.freshNonce);
        if (c.status === 201) expect(body).toMatchObject({ channel: 'sales', text: 'hello', actingFor: { sub: 'u-alice' } });
        if (fresh) {
          // The challenge's nonce is good for the retry (§9).
          const retry = await send({ Authorization: `DPoP ${token}`, DPoP: await dpop({ nonce: fresh }) });
          expect(retry.status).toBe(201);
        }
      });
    });
  });

  describe('CRM MCP server with a DPoP-bound token', () => {
    const rpc = (method: string, params: unknown, headers: Record<string, string>) =>
      fetch(`${demo.urls.crm}/mcp`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'MCP-Protocol-Version': '2025-06-18',
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });

    it('tools/call with a proof: 200; crm.write tool: 403 in the DPoP scheme; as Bearer or replayed: 401', async () => {
      const mcp = `${demo.urls.crm}/mcp`;
      const token = await boundToken('crm', 'crm.read', mcp);
      expect(decodePart(token, 1)).toMatchObject({ aud: mcp, cnf: { jkt: key.jkt } });
      const dpop = await proof({ htu: mcp, accessToken: token });
      const call = await rpc('tools/call', { name: 'lookup_customer', arguments: { customerId: 'cus_1002' } }, { Authorization: `DPoP ${token}`, DPoP: dpop });
      expect(call.status).toBe(200);
      expect(((await call.json()) as any).result.structuredContent).toMatchObject({ customer: { name: 'Globex Corporation' }, actingFor: { sub: 'u-alice' } });

      const replay = await rpc('tools/list', {}, { Authorization: `DPoP ${token}`, DPoP: dpop });
      expect(replay.status).toBe(401);
      expect(replay.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof", error_description="the proof was used before/);

      const del = await rpc(
        'tools/call',
        { name: 'delete_customer', arguments: { customerId: 'cus_1002' } },
        { Authorization: `DPoP ${token}`, DPoP: await proof({ htu: mcp, accessToken: token }) },
      );
      expect(del.status).toBe(403);
      expect(del.headers.get('www-authenticate')).toBe('DPoP error="insufficient_scope", scope="crm.write"');

      const asBearer = await rpc('tools/list', {}, { Authorization: `Bearer ${token}` });
      expect(asBearer.status).toBe(401);
      const challenge = asBearer.headers.get('www-authenticate')!;
      expect(challenge).toMatch(/^DPoP error="invalid_token", error_description="[^"]*DPoP-bound/);
      expect(challenge.endsWith(`, ${ALGS}, resource_metadata="${demo.urls.crm}/.well-known/oauth-protected-resource/mcp"`)).toBe(true);
    });
  });
});
