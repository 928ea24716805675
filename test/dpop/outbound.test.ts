import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenBroker, type MintTarget, type XaaPort } from '../../src/broker/index.js';
import { executeHttpOperation } from '../../src/catalog/http-operation.js';
import { HttpOperation } from '../../src/config/schema.js';
import { defaultDeps } from '../../src/deps.js';
import { DpopClient, DpopNonces, generateDpopKey, ProofReplayCache, verifyProof, type DpopKey } from '../../src/dpop/index.js';
import { isGatewayError } from '../../src/errors.js';
import { redeemIdJag } from '../../src/xaa/index.js';

/**
 * The gateway as a DPoP client (issue 11, point 2a): the jwt-bearer request carries a proof and
 * retries once with the authorization server's nonce (RFC 9449 §5, §8); the broker asks for a bound
 * token when the resource's `dpop` says so and refuses a Bearer answer then; each downstream request
 * carries a fresh proof with `ath` and retries once with the resource server's nonce (§7.1, §9).
 * The servers here are real HTTP on loopback and check every proof with src/dpop's verifier.
 */

interface Seen {
  path: string;
  method: string;
  authorization?: string;
  dpop?: string;
  verdict?: Awaited<ReturnType<typeof verifyProof>>;
}

let server: Server;
let origin: string;
const seen: Seen[] = [];
const nonces = new DpopNonces(Buffer.alloc(32, 9));
const replay = new ProofReplayCache();
/** What the fake AS and RS do, switched by the tests. */
const mode = { asNonce: false, asAnswersBearer: false, rsNonce: false };

async function body(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const chunk of req) s += chunk;
  return s;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    await body(req);
    const url = `${origin}${req.url}`;
    const dpop = req.headers.dpop as string | undefined;
    const entry: Seen = {
      path: req.url!.split('?')[0]!,
      method: req.method!,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(dpop ? { dpop } : {}),
    };
    seen.push(entry);
    const now = Date.now();
    if (entry.path === '/token') {
      if (dpop) {
        entry.verdict = await verifyProof(dpop, {
          method: 'POST',
          url,
          now,
          fresh: (jti, until) => replay.fresh(jti, until, now),
          ...(mode.asNonce ? { nonce: (n: string | undefined) => nonces.valid(n, now) } : {}),
        });
        if (!entry.verdict.ok) {
          res.writeHead(400, { 'Content-Type': 'application/json', ...(entry.verdict.error === 'use_dpop_nonce' ? { 'DPoP-Nonce': nonces.issue(now) } : {}) });
          return res.end(JSON.stringify({ error: entry.verdict.error, error_description: entry.verdict.description }));
        }
      }
      const bound = dpop && !mode.asAnswersBearer;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      return res.end(JSON.stringify({ access_token: `at-${seen.length}`, token_type: bound ? 'DPoP' : 'Bearer', expires_in: 300 }));
    }
    // The resource server: a DPoP-scheme token needs a proof for it.
    const m = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '');
    if (m) {
      entry.verdict = await verifyProof(dpop ?? null, {
        method: req.method!,
        url,
        accessToken: m[1]!,
        now,
        fresh: (jti, until) => replay.fresh(jti, until, now),
        ...(mode.rsNonce ? { nonce: (n: string | undefined) => nonces.valid(n, now) } : {}),
      });
      if (!entry.verdict.ok) {
        res.writeHead(401, {
          'WWW-Authenticate': `DPoP error="${entry.verdict.error}", algs="ES256"`,
          ...(entry.verdict.error === 'use_dpop_nonce' ? { 'DPoP-Nonce': nonces.issue(now) } : {}),
        });
        return res.end();
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const client = { clientId: 'xaa-gateway', auth: { method: 'client_secret_basic' as const, clientSecret: 'gateway-secret-at-the-as' } };
const reset = (m: Partial<typeof mode> = {}) => {
  seen.length = 0;
  Object.assign(mode, { asNonce: false, asAnswersBearer: false, rsNonce: false }, m);
};

let key: DpopKey;
beforeAll(async () => {
  key = await generateDpopKey();
});

describe('jwt-bearer with DPoP (RFC 9449 §5, §8)', () => {
  it('a proof for the token endpoint, and a DPoP token back', async () => {
    reset();
    const dpop = new DpopClient(key, Date.now);
    const t = await redeemIdJag(
      { as: { issuer: origin, token_endpoint: `${origin}/token` }, client, idJag: 'eyJ.id.jag', scopes: ['read'], dpop },
      defaultDeps,
    );
    expect(t.tokenType).toBe('DPoP');
    expect(seen.map((s) => [s.path, s.verdict?.ok])).toEqual([['/token', true]]);
    expect(seen[0]!.verdict).toMatchObject({ ok: true, jkt: key.jkt });
  });

  it("the AS's use_dpop_nonce: one retry with its nonce, then the token", async () => {
    reset({ asNonce: true });
    const dpop = new DpopClient(key, Date.now);
    const t = await redeemIdJag(
      { as: { issuer: origin, token_endpoint: `${origin}/token` }, client, idJag: 'eyJ.id.jag', scopes: ['read'], dpop },
      defaultDeps,
    );
    expect(t.tokenType).toBe('DPoP');
    expect(seen.map((s) => (s.verdict?.ok ? 'ok' : s.verdict?.error))).toEqual(['use_dpop_nonce', 'ok']);
    // Two proofs, two jtis: a proof is never sent twice.
    expect(new Set(seen.map((s) => s.dpop)).size).toBe(2);
  });
});

describe('the broker asks for DPoP per the resource and never falls back silently', () => {
  function broker(advertised: boolean, answer: 'Bearer' | 'DPoP') {
    const asked: boolean[] = [];
    const xaa: XaaPort = {
      discover: async (issuer) => ({
        issuer,
        token_endpoint: `${issuer}/token`,
        ...(advertised ? { dpop_signing_alg_values_supported: ['RS256', 'ES256'] } : {}),
      }),
      requestIdJag: async () => ({ idJag: 'idjag', jti: 'jti-1', expiresAt: Date.now() + 300_000 }),
      redeemIdJag: async (p) => {
        asked.push(p.dpop !== undefined);
        return { accessToken: 'at-1', tokenType: answer, expiresAt: Date.now() + 300_000, scopes: p.scopes };
      },
    };
    const b = new TokenBroker({
      xaa,
      deps: { now: Date.now },
      idp: () => ({ issuer: 'https://idp.example', client, subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token' }),
      dpop: async () => new DpopClient(key, Date.now),
    });
    return { b, asked };
  }
  const target = (dpop: MintTarget['dpop']): MintTarget => ({
    user: { iss: 'https://idp.example', sub: 'u-alice' },
    resource: 'https://cal.example/api',
    scopes: ['read'],
    authorizationServer: 'https://cal.example',
    client,
    ...(dpop ? { dpop } : {}),
  });
  const subject = { getSubjectToken: async () => 'id-token' };

  it.each([
    // mode, AS advertises ES256, AS answers, asked for DPoP, outcome
    ['auto', true, 'DPoP', true, 'DPoP'],
    ['auto', false, 'Bearer', false, 'Bearer'],
    ['required', false, 'DPoP', true, 'DPoP'],
    ['off', true, 'Bearer', false, 'Bearer'],
    ['auto', true, 'Bearer', true, 'refused'],
    ['required', true, 'Bearer', true, 'refused'],
    [undefined, true, 'Bearer', false, 'Bearer'],
  ] as const)('dpop %s, advertised %s, answered %s: asked %s -> %s', async (m, advertised, answer, asked, outcome) => {
    const { b, asked: got } = broker(advertised, answer);
    const result = await b.getToken(target(m), subject).then(
      (t) => t.tokenType,
      (e: unknown) => (isGatewayError(e, 'invalid_token_response') && /refused rather than used as a bearer token/.test(e.message) ? 'refused' : String(e)),
    );
    expect({ asked: got, result }).toEqual({ asked: [asked], result: outcome });
  });
});

describe('downstream requests with a DPoP-bound token (RFC 9449 §7.1, §9)', () => {
  const op = (path: string) => HttpOperation.parse({ method: 'GET', url: `${origin}${path}` });

  it('Authorization: DPoP with a fresh proof per request, ath of the token, htu without the query', async () => {
    reset();
    const dpop = new DpopClient(key, Date.now);
    for (let i = 0; i < 2; i++) {
      const r = await executeHttpOperation(op('/api/items'), { q: 'x' }, 'bound-token-1', defaultDeps, { dpop });
      expect(r.status).toBe(200);
    }
    expect(seen.map((s) => [s.authorization, s.verdict?.ok])).toEqual([
      ['DPoP bound-token-1', true],
      ['DPoP bound-token-1', true],
    ]);
    expect(seen[0]!.dpop).not.toBe(seen[1]!.dpop);
  });

  it("the resource server's use_dpop_nonce: one retry with its nonce; the nonce is kept for the next call", async () => {
    reset({ rsNonce: true });
    const dpop = new DpopClient(key, Date.now);
    expect((await executeHttpOperation(op('/api/items'), {}, 'bound-token-2', defaultDeps, { dpop })).status).toBe(200);
    expect((await executeHttpOperation(op('/api/items'), {}, 'bound-token-2', defaultDeps, { dpop })).status).toBe(200);
    expect(seen.map((s) => (s.verdict?.ok ? 'ok' : s.verdict?.error))).toEqual(['use_dpop_nonce', 'ok', 'ok']);
  });

  it('a Bearer token stays Bearer, with no proof', async () => {
    reset();
    await executeHttpOperation(op('/api/items'), {}, 'plain-token', defaultDeps);
    expect(seen).toEqual([{ path: '/api/items', method: 'GET', authorization: 'Bearer plain-token' }]);
  });
});
