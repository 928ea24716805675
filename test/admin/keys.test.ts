import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditDir } from '../../src/audit/index.js';
import { runAdminCli } from '../../src/admin/cli.js';
import { ADMIN_TOKEN, startAdminHarness, type AdminHarness } from './harness.js';

/** The signing keys of the gateway's access tokens in the admin API and CLI: list, rotate, who may, audit. */

let h: AdminHarness;
beforeAll(async () => {
  h = await startAdminHarness();
});
afterAll(() => h?.close());

const HOUR_MS = 3_600_000;
const listKeys = async () => (await (await h.api('GET', '/keys')).json()).keys as Array<Record<string, unknown>>;
const rotations = async () => (await h.env.audit()).filter((r) => r.type === 'admin_action' && r.action === 'keys.rotate');

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAdminCli(['--url', h.origin, ...args], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    env: { XAA_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('GET /admin/api/keys and POST /admin/api/keys/rotate', () => {
  it('lists the signing key without private parts; rotate answers the new kid, audited with before/after; new tokens carry it', async () => {
    const res = await h.api('GET', '/keys');
    expect(res.status).toBe(200);
    const text = await res.text();
    const [k0, ...none] = JSON.parse(text).keys;
    expect(none).toEqual([]);
    expect(k0).toEqual({ kid: expect.any(String), alg: 'ES256', createdAt: expect.any(Number), retiredAt: null, verifyUntil: null, signing: true });
    expect(text).not.toMatch(/"d"|privateJwk|private/i);

    const before = Date.now();
    const rotated = await h.api('POST', '/keys/rotate', { body: { reason: 'quarterly rotation' } });
    expect(rotated.status).toBe(200);
    const body = await rotated.json();
    expect(body).toEqual({
      kid: expect.any(String),
      previous: k0.kid,
      verifyUntil: expect.any(Number),
      keys: [
        { kid: body.kid, alg: 'ES256', createdAt: expect.any(Number), retiredAt: null, verifyUntil: null, signing: true },
        { ...k0, retiredAt: body.keys[0].createdAt, verifyUntil: body.verifyUntil, signing: false },
      ],
    });
    expect(body.kid).not.toBe(k0.kid);
    expect(body.verifyUntil - body.keys[0].createdAt).toBe(HOUR_MS);
    expect(body.keys[0].createdAt).toBeGreaterThanOrEqual(before);
    expect(JSON.stringify(body)).not.toMatch(/"d"|privateJwk/);
    expect(await listKeys()).toEqual(body.keys);

    expect(await rotations()).toEqual([
      expect.objectContaining({
        type: 'admin_action',
        phase: 'outcome',
        actor: { kind: 'admin', via: 'token' },
        action: 'keys.rotate',
        target: { kid: body.kid },
        before: { signing: k0.kid },
        after: { signing: body.kid, retired: [k0.kid], verifyUntil: body.verifyUntil },
        reason: 'quarterly rotation',
      }),
    ]);

    const alice = await h.signIn('alice');
    const token = await h.token(alice);
    expect(decodeProtectedHeader(token).kid).toBe(body.kid);
    const jwks = await (await fetch(`${h.origin}/jwks`)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([body.kid, k0.kid]);
  });

  it.each([
    ['no credentials', null, 401, 'admin_unauthorized'],
    ['a wrong token', 'x'.repeat(43), 401, 'admin_unauthorized'],
    ["a user's MCP access token", 'user', 403, 'admin_forbidden'],
  ] as const)('%s: %s on list and rotate; nothing rotated', async (_label, token, status, code) => {
    const bearer = token === 'user' ? await h.token(await h.signIn('bob')) : token;
    const kids = (await listKeys()).map((k) => k.kid);
    const count = (await rotations()).length;
    for (const [method, path] of [
      ['GET', '/keys'],
      ['POST', '/keys/rotate'],
    ] as const) {
      const res = await h.api(method, path, { token: bearer });
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ error: code });
    }
    expect((await listKeys()).map((k) => k.kid)).toEqual(kids);
    expect(await rotations()).toHaveLength(count);
  });

  it('a browser admin session must send its CSRF token to rotate', async () => {
    const { cookie } = await h.browserSignIn('alice');
    const who = await (await h.api('GET', '/whoami', { token: null, headers: { Cookie: cookie! } })).json();
    const kids = (await listKeys()).map((k) => k.kid);
    const noCsrf = await h.api('POST', '/keys/rotate', { token: null, headers: { Cookie: cookie! } });
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.json()).toMatchObject({ error: 'admin_forbidden', message: expect.stringContaining('CSRF') });
    expect((await listKeys()).map((k) => k.kid)).toEqual(kids);

    const ok = await h.api('POST', '/keys/rotate', { token: null, headers: { Cookie: cookie!, 'X-CSRF-Token': who.csrfToken } });
    expect(ok.status).toBe(200);
    const { kid, previous } = await ok.json();
    expect(previous).toBe(kids[0]);
    expect((await rotations()).at(-1)).toMatchObject({
      actor: { kind: 'admin', via: 'session', sub: 'u-alice' },
      target: { kid },
      before: { signing: previous },
      reason: 'rotated by an admin',
    });
  });

  it('a bad body is 400 admin_invalid naming the field', async () => {
    const res = await h.api('POST', '/keys/rotate', { body: { reason: 1 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'admin_invalid', issues: [{ path: 'reason', message: expect.any(String) }] });
  });
});

describe('xaa-gateway admin keys', () => {
  it('list (table and --json) and rotate', async () => {
    const json = await cli(['--json', 'keys', 'list']);
    expect(json.code).toBe(0);
    const keys = JSON.parse(json.stdout);
    expect(keys).toEqual(await listKeys());

    const table = await cli(['keys', 'list']);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^KID +ALG +STATE +CREATED +RETIRED +VERIFIES UNTIL$/);
    expect(lines.slice(1).map((l) => l.split(/ +/).slice(0, 3))).toEqual(
      keys.map((k: { kid: string; signing: boolean }) => [k.kid, 'ES256', k.signing ? 'signing' : 'verifying']),
    );
    expect(lines[1]).toMatch(/ signing +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +- +-$/);

    const rotated = await cli(['keys', 'rotate', '--reason', 'from the CLI']);
    expect(rotated).toMatchObject({ code: 0, stderr: '' });
    const now = await listKeys();
    expect(rotated.stdout).toBe(
      `signing key rotated: ${now[0]!.kid} signs new tokens; ${keys[0].kid} keeps verifying until ${new Date(now[1]!.verifyUntil as number).toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
    );
    expect((await rotations()).at(-1)).toMatchObject({ target: { kid: now[0]!.kid }, reason: 'from the CLI' });

    const denied = await runAdminCli(['--url', h.origin, 'keys', 'rotate'], { stdout: () => {}, stderr: () => {}, env: { XAA_ADMIN_TOKEN: 'y'.repeat(43) } });
    expect(denied).toBe(1);
    expect((await listKeys())[0]!.kid).toBe(now[0]!.kid);
  });

  it('the audit chain with the rotations verifies', async () => {
    expect(await verifyAuditDir(h.env.auditDir)).toMatchObject({ ok: true, count: (await h.env.audit()).length });
  });
});
