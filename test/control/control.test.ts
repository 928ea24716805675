import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DroppedToken } from '../../src/broker/index.js';
import { ConfigStore, parseConfigText } from '../../src/config/index.js';
import { ControlService, revokeDownstreamTokens, SwitchSnapshot } from '../../src/control/index.js';
import { defaultDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { MemorySink } from '../server/http/harness.js';

/**
 * ControlService on its own: best-effort RFC 7009 revocation at downstream authorization servers
 * (a fake AS on loopback), and switches set on one instance reaching another instance that shares
 * the store, through the revision poll.
 */

interface Revocation {
  token: string | null;
  hint: string | null;
  authorization: string | null;
}

/** An AS whose metadata publishes revocation_endpoint (or not), and how it answers revocations. */
async function fakeAs(
  mode: 'ok' | 'no-endpoint' | 'unsupported_token_type' | 'hang',
  hangMs = 2_000,
): Promise<{ issuer: string; revoked: Revocation[]; close(): Promise<void> }> {
  const revoked: Revocation[] = [];
  const app = new Hono();
  let issuer = '';
  app.get('/.well-known/oauth-authorization-server', (c) =>
    c.json({ issuer, token_endpoint: `${issuer}/token`, ...(mode === 'no-endpoint' ? {} : { revocation_endpoint: `${issuer}/revoke` }) }),
  );
  app.post('/revoke', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    revoked.push({ token: form.get('token'), hint: form.get('token_type_hint'), authorization: c.req.header('authorization') ?? null });
    if (mode === 'hang') await new Promise((r) => setTimeout(r, hangMs));
    if (mode === 'unsupported_token_type') return c.json({ error: 'unsupported_token_type' }, 400);
    return c.body(null, 200); // RFC 7009 §2.2: 200 whether or not the token was valid
  });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    revoked,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const dropped = (issuer: string, accessToken: string): DroppedToken => ({
  accessToken,
  fingerprint: `fp-${accessToken}`,
  user: { iss: 'https://idp.example', sub: 'u1' },
  resource: 'https://api.example/',
  authorizationServer: issuer,
  client: { clientId: 'gateway', auth: { method: 'client_secret_basic', clientSecret: 'secret1' } },
});

// One embedded store for the file: PGlite takes seconds to initialize.
let dir: string;
let pglite: Store;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xaa-control-'));
  pglite = await openStore({ dataDir: join(dir, 'store'), encryptionKey: randomBytes(32).toString('base64') });
});
afterAll(async () => {
  await pglite?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('RFC 7009 revocation of dropped downstream tokens (best effort)', () => {
  const discover = async (issuer: string) => (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as never;

  it.each([
    ['ok', 'revoked', undefined],
    ['no-endpoint', 'unsupported', undefined],
    ['unsupported_token_type', 'failed', 'unsupported_token_type'],
    ['hang', 'failed', 'timed out'],
  ] as const)('AS %s -> %s', async (mode, result, error) => {
    const as = await fakeAs(mode);
    try {
      // A short budget only where it is what is tested: a loaded machine can take longer than that to answer on loopback.
      const timeoutMs = mode === 'hang' ? 300 : 60_000;
      const out = await revokeDownstreamTokens([dropped(as.issuer, 'at-1')], { deps: defaultDeps, logger: silentLogger, discover, timeoutMs });
      expect(out).toEqual([{ fingerprint: 'fp-at-1', authorizationServer: as.issuer, result, ...(error ? { error } : {}) }]);
      if (mode !== 'no-endpoint') {
        // The token, the hint, and the client that minted it authenticated as it is configured (client_secret_basic).
        expect(as.revoked).toEqual([{ token: 'at-1', hint: 'access_token', authorization: `Basic ${Buffer.from('gateway:secret1').toString('base64')}` }]);
      } else {
        expect(as.revoked).toEqual([]);
      }
    } finally {
      await as.close();
    }
  });

  it('a user switch revokes the tokens the broker dropped, without waiting for the AS', async () => {
    const as = await fakeAs('hang', 300);
    const store = pglite;
    try {
      const sink = new MemorySink();
      const token = dropped(as.issuer, 'at-user');
      const control = new ControlService({
        store,
        snapshot: new SwitchSnapshot(),
        broker: { drop: (f) => (f.user?.sub === 'u1' ? [token] : []) },
        config: configStore(dir),
        audit: sink,
        deps: defaultDeps,
        logger: silentLogger,
        discover,
        revocationTimeoutMs: 5_000,
      });
      await control.start();
      const r = await control.setSwitch({ kind: 'user', user: token.user }, 'offboarded', { kind: 'admin', via: 'token' });
      // The switch answered while the AS still hangs on the revocation.
      expect(r.revoked).toEqual({ downstreamTokens: 1, sessions: 0, refreshTokens: 0 });
      expect(control.snapshot.find({ user: token.user, target: { name: 'x' } })?.reason).toBe('offboarded');
      await control.idle();
      expect(as.revoked.map((x) => x.token)).toEqual(['at-user']);
      expect(sink.records.map((e) => [e.type, e.action])).toEqual([['admin_action', 'switch.set']]);
      // Nothing secret in the audit record: no token, only counts.
      expect(JSON.stringify(sink.records)).not.toContain('at-user');
      control.close();
    } finally {
      await store.deleteKillSwitch(JSON.stringify(['user', 'https://idp.example', 'u1']));
      await as.close();
    }
  });
});

function configStore(dir: string): ConfigStore {
  const text = JSON.stringify({
    idp: { issuer: 'https://idp.example', clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: { env: 'HOME' } } },
    resources: {
      cal: {
        resource: 'https://cal.example/api',
        authorizationServer: 'https://cal.example',
        client: { clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: { env: 'HOME' } } },
      },
    },
  });
  return new ConfigStore(parseConfigText(text, join(dir, 'mcp.config.json')));
}

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skipPostgres = process.env.XAA_SKIP_POSTGRES === '1';

/** B without change notifications: only its revision poll can tell it (a dropped LISTEN connection). */
function deaf(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'onKillSwitchChange') return async () => async () => {};
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('two instances sharing one store: a switch set on one reaches the other at once (notification) or by the revision poll', () => {
  it.each([
    // With the poll off (10 min), only the notification can deliver within the 5 s the test waits.
    ['PGlite (one store, two services): local notification', false, 'notify'],
    ['PostgreSQL (two connections): LISTEN/NOTIFY', true, 'notify'],
    ['PostgreSQL (two connections): the poll alone', true, 'poll'],
  ] as const)('%s', async (_label, postgres, via) => {
    if (postgres && skipPostgres) return;
    const key = randomBytes(32).toString('base64');
    const schema = `control_test_${randomBytes(5).toString('hex')}`;
    const open = () => openStore({ databaseUrl, dataDir: '/unused', schema, encryptionKey: key });
    const storeA: Store = postgres ? await open() : pglite;
    const storeB: Store = postgres ? await open() : pglite;
    const purgedOnB: unknown[] = [];
    const make = (store: Store, drop: (f: unknown) => DroppedToken[]) =>
      new ControlService({
        store,
        snapshot: new SwitchSnapshot(),
        broker: { drop },
        config: configStore(dir),
        audit: new MemorySink(),
        deps: defaultDeps,
        logger: silentLogger,
        refreshMs: via === 'poll' ? 20 : 600_000,
      });
    const a = make(storeA, () => []);
    const b = make(via === 'poll' ? deaf(storeB) : storeB, (f) => {
      purgedOnB.push(f);
      return [];
    });
    try {
      await a.start();
      await b.start();
      const user = { iss: 'https://idp.example', sub: `u-${schema}` };
      const call = { user, clientId: 'agent-1', target: { name: 'cal' } };
      expect(b.snapshot.find(call)).toBeUndefined();
      await a.setSwitch({ kind: 'user', user }, 'stolen laptop', { kind: 'admin', via: 'token' });
      await expect.poll(() => b.snapshot.find(call)?.reason, { timeout: 5_000, interval: 10 }).toBe('stolen laptop');
      // B drops what it cached for that user too (its broker, its tokens).
      expect(purgedOnB).toContainEqual({ user });
      await a.liftSwitch({ kind: 'user', user }, 'found it', { kind: 'admin', via: 'token' });
      await expect.poll(() => b.snapshot.find(call), { timeout: 5_000, interval: 10 }).toBeUndefined();
    } finally {
      a.close();
      b.close();
      if (postgres) {
        await storeA.close();
        await storeB.close();
        const pg = (await import('pg')).default;
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    }
  });
});

describe('lifting races a switch set again (another admin, another instance)', () => {
  it('the newer switch stays in force; the record says the lift was superseded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xaa-control-race-'));
    const sink = new MemorySink();
    const clientId = `agent-${randomBytes(4).toString('hex')}`;
    const key = JSON.stringify(['agent', clientId]);
    const admin = { kind: 'admin' as const, via: 'token' as const };
    // Between the lift's read and its delete, someone sets the same switch again.
    const racing = new Proxy(pglite, {
      get(target, prop) {
        if (prop === 'deleteKillSwitch') {
          return async (k: string, since?: number) => {
            await target.putKillSwitch(k, { switch: { kind: 'agent', clientId }, reason: 'set again', actor: admin, since: Date.now() + 1 });
            return target.deleteKillSwitch(k, since);
          };
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const control = new ControlService({
      store: racing,
      snapshot: new SwitchSnapshot(),
      broker: { drop: () => [] },
      config: configStore(dir),
      audit: sink,
      deps: defaultDeps,
      logger: silentLogger,
    });
    try {
      await control.setSwitch({ kind: 'agent', clientId }, 'first', admin);
      expect(await control.liftSwitch({ kind: 'agent', clientId }, 'all clear', admin)).toBeUndefined();
      expect(
        (await pglite.listKillSwitches()).switches.find((s) => JSON.stringify(['agent', (s.switch as { clientId?: string }).clientId]) === key)?.reason,
      ).toBe('set again');
      expect(sink.records.map((r) => (r as { action?: string }).action)).toEqual(['switch.set', 'switch.lift', 'switch.lift_superseded']);
    } finally {
      control.close();
      await pglite.deleteKillSwitch(key);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
