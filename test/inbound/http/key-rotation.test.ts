import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { AccessTokenService, UNKNOWN_KID_RELOAD_MS, type SigningKeyView } from '../../../src/inbound/http/tokens.js';
import { silentLogger } from '../../../src/log.js';
import type { HttpServer } from '../../../src/server/http.js';
import { runServe } from '../../../src/server/serve.js';
import { openStore, type SigningKey, type Store, type UserSession } from '../../../src/store/index.js';
import { ENCRYPTION_KEY, initializeBody, openSession, post, serverSection, startHarness, type Harness } from '../../server/http/harness.js';

/**
 * Rotation of the keys that sign the gateway's access tokens: tokens of a retired key keep working
 * until its `verifyUntil`, /jwks publishes exactly the keys that verify, `serve` rotates a key once
 * it is `server.signingKeyRotationDays` old (at start and periodically), and instances sharing a
 * store never end with two signing keys. Time is the injected clock (`deps.now`).
 */

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

let clock = Date.now();
const deps: Deps = { ...defaultDeps, now: () => clock };
let h: Harness;
let alice: UserSession;

beforeAll(async () => {
  h = await startHarness({ deps });
  alice = await h.signIn('alice');
});
afterAll(() => h?.close());

const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const jwksKids = async (origin: string) =>
  ((await (await fetch(`${origin}/jwks`)).json()) as { keys: Array<{ kid: string; d?: unknown }> }).keys.map((k) => k.kid);
const unretired = (keys: SigningKey[]) => keys.filter((k) => k.retiredAt === undefined).map((k) => k.kid);

describe('rotation (AccessTokenService over the store)', () => {
  it('a token of the old key keeps working at /mcp; new tokens carry the new kid; /jwks lists both until verifyUntil, then only the new key; purgeExpired deletes the old one', async () => {
    const before = await h.token(alice);
    const oldKid = kidOf(before)!;
    expect(await jwksKids(h.origin)).toEqual([oldKid]);

    const rotatedAt = clock;
    const r = await h.tokens.rotate();
    // verifyUntil: one hour (longer than the 600 s tokens of the harness live).
    expect(r).toEqual({ kid: expect.any(String), previous: oldKid, retired: [oldKid], verifyUntil: rotatedAt + HOUR_MS });
    expect(r.kid).not.toBe(oldKid);
    const stored = await h.store.listSigningKeys();
    expect(stored.map((k) => [k.kid, k.createdAt, k.retiredAt, k.verifyUntil])).toEqual([
      [r.kid, rotatedAt, undefined, undefined],
      [oldKid, expect.any(Number), rotatedAt, rotatedAt + HOUR_MS],
    ]);

    // The token signed before the rotation still opens an MCP session and lists tools.
    const s = await openSession(h.mcpUrl, before);
    const list = await post(h.mcpUrl, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, s.headers);
    expect(list.status).toBe(200);
    const after = await h.token(alice);
    expect(kidOf(after)).toBe(r.kid);
    expect((await h.tokens.verify(after)).sub).toBe(alice.sub);
    expect((await post(h.mcpUrl, initializeBody(), { Authorization: `Bearer ${after}` })).status).toBe(200);

    // /jwks: both keys, newest first, public parts only, until the old key's verifyUntil.
    const jwks = await (await fetch(`${h.origin}/jwks`)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([r.kid, oldKid]);
    for (const k of jwks.keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    clock = r.verifyUntil - 1;
    expect(await jwksKids(h.origin)).toEqual([r.kid, oldKid]);
    clock = r.verifyUntil;
    expect(await jwksKids(h.origin)).toEqual([r.kid]);
    const refused = await post(h.mcpUrl, initializeBody(), { Authorization: `Bearer ${before}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="unknown signing key"');

    // The row stays until a purge, which then deletes it (and nothing else).
    expect((await h.store.listSigningKeys()).map((k) => k.kid)).toEqual([r.kid, oldKid]);
    await h.store.purgeExpired(clock);
    expect((await h.store.listSigningKeys()).map((k) => k.kid)).toEqual([r.kid]);
    const fresh = await h.token(alice);
    expect((await post(h.mcpUrl, initializeBody(), { Authorization: `Bearer ${fresh}` })).status).toBe(200);
  });

  it('rotateIfOlderThan: not before the key is the given age, then once', async () => {
    const maxAge = 30 * DAY_MS;
    const [current] = await h.tokens.keys();
    expect(current).toMatchObject({ signing: true });
    clock = current!.createdAt + maxAge - 1;
    expect(await h.tokens.rotateIfOlderThan(maxAge)).toBeUndefined();
    expect((await h.tokens.keys()).map((k) => k.kid)).toEqual([current!.kid]);
    clock = current!.createdAt + maxAge;
    const r = await h.tokens.rotateIfOlderThan(maxAge);
    expect(r).toEqual({ kid: expect.any(String), previous: current!.kid, retired: [current!.kid], verifyUntil: clock + HOUR_MS });
    expect(await h.tokens.rotateIfOlderThan(maxAge)).toBeUndefined();
    expect((await h.tokens.keys()).map((k) => [k.kid, k.signing])).toEqual([
      [r!.kid, true],
      [current!.kid, false],
    ]);
  });

  it('two services on one store rotating at once: exactly one key signs; a due key is rotated once', async () => {
    const mk = () => new AccessTokenService({ store: h.store, deps, issuer: h.origin, resource: h.mcpUrl, ttlSeconds: () => 600 });
    const [a, b] = [mk(), mk()];
    const both = await Promise.all([a.rotate(), b.rotate()]);
    expect(new Set(both.map((r) => r.kid)).size).toBe(2);
    expect(unretired(await h.store.listSigningKeys())).toHaveLength(1);

    clock += 30 * DAY_MS;
    const due = await Promise.all([a.rotateIfOlderThan(30 * DAY_MS), b.rotateIfOlderThan(30 * DAY_MS)]);
    expect(due.filter(Boolean)).toHaveLength(1);
    expect(unretired(await h.store.listSigningKeys())).toEqual([due.find(Boolean)!.kid]);
  });

  it('a kid rotated in by another instance verifies; unknown kids re-read the store at most once per UNKNOWN_KID_RELOAD_MS', async () => {
    let reads = 0;
    const counting = new Proxy(h.store, {
      get(target, prop) {
        if (prop === 'listSigningKeys') return () => (reads++, target.listSigningKeys());
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const mine = new AccessTokenService({ store: counting, deps, issuer: h.origin, resource: h.mcpUrl, ttlSeconds: () => 600 });
    const other = new AccessTokenService({ store: h.store, deps, issuer: h.origin, resource: h.mcpUrl, ttlSeconds: () => 600 });
    await mine.jwks(); // keyring loaded
    clock += UNKNOWN_KID_RELOAD_MS;
    await other.rotate();
    const fresh = (await other.issue({ sub: alice.sub, idp_iss: alice.iss, client_id: 'agent-a', sid: alice.id, scope: 'mcp:tools' })).token;
    const before = reads;
    await expect(mine.verify(fresh)).resolves.toMatchObject({ sub: alice.sub }); // one re-read finds the new kid
    expect(reads).toBe(before + 1);

    // A burst of made-up kids within the floor: refused without touching the store.
    const [hd, pl, sig] = fresh.split('.') as [string, string, string];
    const forged = (i: number) =>
      `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(hd, 'base64url').toString()), kid: `nope-${i}` })).toString('base64url')}.${pl}.${sig}`;
    for (let i = 0; i < 20; i++) await expect(mine.verify(forged(i))).rejects.toThrow(/unknown signing key/);
    expect(reads).toBe(before + 1);
    clock += UNKNOWN_KID_RELOAD_MS;
    await expect(mine.verify(forged(99))).rejects.toThrow(/unknown signing key/);
    expect(reads).toBe(before + 2);
  });

  it('a store left with two unretired keys (by an older gateway) is healed by the next rotation', async () => {
    const stray = { ...(await h.store.listSigningKeys())[0]!, kid: `stray-${randomBytes(4).toString('hex')}`, createdAt: clock - 1 };
    await h.store.addSigningKey(stray);
    expect(unretired(await h.store.listSigningKeys())).toHaveLength(2);
    const r = await h.tokens.rotate();
    expect(r.retired).toHaveLength(2);
    expect(r.retired).toContain(stray.kid);
    expect(unretired(await h.store.listSigningKeys())).toEqual([r.kid]);
  });
});

describe('serve: automatic rotation after server.signingKeyRotationDays', () => {
  const ADMIN_ENV = 'XAA_KEYROT_TEST_ADMIN_TOKEN';
  const ADMIN_TOKEN = randomBytes(32).toString('base64url');
  let server: HttpServer | undefined;
  afterAll(() => server?.shutdown('test done'));

  const keys = async (): Promise<SigningKeyView[]> => {
    const res = await fetch(`${server!.listenUrl}/admin/api/keys`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    return (await res.json()).keys;
  };

  it('checks at start and periodically; rotates a key once it is that old, never a younger one', async () => {
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    const dir = h.env.dir;
    const cfg = JSON.parse(readFileSync(h.env.configPath, 'utf8'));
    cfg.server = { ...serverSection('http://127.0.0.1:9', dir), dataDir: join(dir, 'serve-store'), signingKeyRotationDays: 2 };
    cfg.admin = { tokens: [{ env: ADMIN_ENV }] };
    cfg.audit = { ...cfg.audit, dir: join(dir, 'serve-audit') };
    const configPath = join(dir, 'serve.config.json');
    writeFileSync(configPath, JSON.stringify(cfg));
    const serve = () => runServe({ configPath, host: '127.0.0.1', port: 0, handleSignals: false, logger: silentLogger, deps, keyRotationCheckMs: 20 });

    clock = Date.now();
    server = await serve();
    const [k0, ...none] = await keys();
    expect(none).toEqual([]);
    expect(k0).toEqual({ kid: expect.any(String), alg: 'ES256', createdAt: clock, retiredAt: null, verifyUntil: null, signing: true });

    // The periodic check: a day later nothing changes; two days after the key was made it is replaced.
    clock += DAY_MS;
    await new Promise((r) => setTimeout(r, 100));
    expect((await keys()).map((k) => k.kid)).toEqual([k0!.kid]);
    clock = k0!.createdAt + 2 * DAY_MS;
    const deadline = Date.now() + 5000;
    let now = await keys();
    while (now.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      now = await keys();
    }
    expect(now).toEqual([
      { kid: expect.any(String), alg: 'ES256', createdAt: clock, retiredAt: null, verifyUntil: null, signing: true },
      { ...k0, retiredAt: clock, verifyUntil: clock + HOUR_MS, signing: false },
    ]);
    const k1 = now[0]!;
    expect(await jwksKids(server.listenUrl)).toEqual([k1.kid, k0!.kid]);
    await server.shutdown('restart');

    // At start: the gateway was down when the key came due; it is replaced before anything is served.
    clock = k1.createdAt + 2 * DAY_MS + 5;
    server = await serve();
    const [k2, ...rest] = await keys();
    expect(k2).toMatchObject({ createdAt: clock, signing: true });
    expect(rest).toEqual([{ ...k1, retiredAt: clock, verifyUntil: clock + HOUR_MS, signing: false }]);
    expect(await jwksKids(server.listenUrl)).toEqual([k2!.kid, k1.kid]);
  });
});

// Several instances on one PostgreSQL: separate connection pools, so the store's lock is what serializes them.
const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
describe.skipIf(process.env.XAA_SKIP_POSTGRES === '1')('PostgreSQL: instances rotating at once', () => {
  const schema = `keyrot_test_${randomBytes(6).toString('hex')}`;
  const stores: Store[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });

  it('the first key is made once; a due key is rotated once; concurrent manual rotations leave one signing key', async () => {
    for (let i = 0; i < 2; i++) stores.push(await openStore({ databaseUrl, dataDir: '/nonexistent-unused', schema, encryptionKey: ENCRYPTION_KEY }));
    const services = stores.flatMap((store) =>
      [1, 2].map(() => new AccessTokenService({ store, deps, issuer: 'https://gw.example', resource: 'https://gw.example/mcp', ttlSeconds: () => 600 })),
    );
    clock = Date.now();

    const first = await Promise.all(services.map((s) => s.jwks()));
    expect(new Set(first.map((j) => JSON.stringify(j))).size).toBe(1);
    expect(await stores[0]!.listSigningKeys()).toHaveLength(1);

    clock += 30 * DAY_MS;
    const due = await Promise.all(services.map((s) => s.rotateIfOlderThan(30 * DAY_MS)));
    expect(due.filter(Boolean)).toHaveLength(1);
    expect(unretired(await stores[1]!.listSigningKeys())).toEqual([due.find(Boolean)!.kid]);

    for (let round = 0; round < 3; round++) {
      const all = await Promise.all(services.map((s) => s.rotate()));
      const keys = await stores[0]!.listSigningKeys();
      expect(unretired(keys)).toHaveLength(1);
      expect(all.map((r) => r.kid)).toContain(unretired(keys)[0]);
    }
    expect(await stores[0]!.listSigningKeys()).toHaveLength(2 + 3 * services.length);
  });
});
