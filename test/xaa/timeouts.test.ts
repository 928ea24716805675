import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenBroker, type MintTarget, type SubjectTokenSource } from '../../src/broker/index.js';
import { defaultDeps } from '../../src/deps.js';
import { DEFAULT_TIMEOUT_MS } from '../../src/xaa/constants.js';
import { createXaaPort } from '../../src/xaa/port.js';
import { caught } from './helpers.js';

/**
 * A hanging IdP or authorization server (accepts the connection, reads the request, never answers):
 * each request gives up after its time budget (idp.timeoutMs, resources.<name>.timeoutMs; 4 s by
 * default, so a call that needs a new token fails within 5 s), and the error names the cause and the
 * setting. Over real loopback sockets. Elapsed times are asserted from below only (the budget was
 * waited for); nothing asserts how fast the machine is.
 */

let server: Server;
let base: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume(); // read the request, answer nothing
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const client = { clientId: 'xaa-gateway', auth: { method: 'client_secret_basic' as const, clientSecret: 'gateway-secret' } };

/** The error `call` rejects with, and how long that took (timers run on the event loop's cached clock: a few ms of slack below). */
async function timed(call: () => Promise<unknown>): Promise<{ error: Awaited<ReturnType<typeof caught>>; ms: number }> {
  const t0 = performance.now();
  const error = await caught(call());
  return { error, ms: performance.now() - t0 };
}

describe('a hanging IdP or authorization server', () => {
  const xaa = createXaaPort(defaultDeps, { discoveryTtlMs: 0 });
  const cases: Array<[string, () => Promise<unknown>, string, RegExp]> = [
    [
      'IdP metadata discovery (idp.timeoutMs 250)',
      () => xaa.discover(`${base}/idp-a`, { role: 'idp', timeoutMs: 250 }),
      'idp_unreachable',
      /^Could not reach http:\/\/127\.0\.0\.1:\d+\/idp-a for metadata discovery \(.+\): timed out after 250 ms \(idp\.timeoutMs\)$/,
    ],
    [
      'token exchange at the IdP (idp.timeoutMs 250)',
      () =>
        xaa.requestIdJag({
          idp: { issuer: `${base}/idp-b`, token_endpoint: `${base}/idp-b/token` },
          client,
          subjectToken: 'eyJ.subject.token',
          subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
          audience: `${base}/as`,
          resource: 'https://saas.example/api',
          scopes: ['read'],
          timeoutMs: 250,
        }),
      'idp_unreachable',
      /^Could not reach the IdP http:\/\/127\.0\.0\.1:\d+\/idp-b token endpoint: timed out after 250 ms \(idp\.timeoutMs\)$/,
    ],
    [
      "jwt-bearer grant at the resource's AS (timeoutMs 250)",
      () =>
        xaa.redeemIdJag({ as: { issuer: `${base}/as`, token_endpoint: `${base}/as/token` }, client, idJag: 'eyJ.id.jag', scopes: ['read'], timeoutMs: 250 }),
      'jwt_bearer_failed',
      /^Could not reach the authorization server http:\/\/127\.0\.0\.1:\d+\/as token endpoint: timed out after 250 ms \(the resource's timeoutMs\)$/,
    ],
  ];
  it.each(cases)('%s: gives up after its budget, naming the cause and the setting', async (_label, call, code, message) => {
    const { error, ms } = await timed(call);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(ms).toBeGreaterThanOrEqual(250 - 30);
  });

  it(`by default (${DEFAULT_TIMEOUT_MS} ms, under 5 s), a token that has to be minted fails on a hanging IdP with the cause`, async () => {
    expect(DEFAULT_TIMEOUT_MS).toBeLessThan(5_000);
    // The broker as the gateway drives it, with the config's defaults (no timeoutMs set anywhere).
    const broker = new TokenBroker({
      xaa: createXaaPort(defaultDeps, { discoveryTtlMs: 0 }),
      deps: defaultDeps,
      idp: () => ({ issuer: `${base}/idp-c`, client, subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token' }),
    });
    const target: MintTarget = {
      user: { iss: `${base}/idp-c`, sub: 'alice' },
      resource: 'https://saas.example/api',
      scopes: ['read'],
      authorizationServer: `${base}/as-c`,
      client,
    };
    const subject: SubjectTokenSource = { getSubjectToken: async () => 'eyJ.subject.token' };
    const { error, ms } = await timed(() => broker.getToken(target, subject));
    expect(error.code).toBe('idp_unreachable');
    expect(error.message).toMatch(new RegExp(`timed out after ${DEFAULT_TIMEOUT_MS} ms \\(idp\\.timeoutMs\\)$`));
    expect(ms).toBeGreaterThanOrEqual(DEFAULT_TIMEOUT_MS - 30);
  });
});
