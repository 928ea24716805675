import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditDir } from '../../src/audit/index.js';
import { AGENT_A, startAdminHarness, type AdminHarness } from './harness.js';

/** The admin API over real HTTP on loopback: who may call it, config edits, concurrency, sessions, audit. */

let h: AdminHarness;
beforeAll(async () => {
  h = await startAdminHarness();
});
afterAll(() => h?.close());

const fileHash = () => createHash('sha256').update(readFileSync(h.env.configPath)).digest('hex');
const fileJson = (): any => JSON.parse(readFileSync(h.env.configPath, 'utf8'));
const etag = async () => (await h.api('GET', '/tools')).headers.get('etag')!;

describe('admin authentication', () => {
  it.each([
    ['no credentials', {}, 401, 'admin_unauthorized'],
    ['a wrong token', { token: 'x'.repeat(43) }, 401, 'admin_unauthorized'],
    ['a malformed Authorization header', { headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' }, token: null }, 401, 'admin_unauthorized'],
    ['the admin token', {}, 200, undefined],
  ] as const)('%s -> %s', async (label, opts, status, code) => {
    const res = await h.api('GET', '/tools', label === 'no credentials' ? { token: null } : (opts as never));
    expect(res.status).toBe(status);
    if (code) {
      expect(await res.json()).toMatchObject({ error: code, message: expect.stringMatching(/admin/) });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="xaa-gateway-admin"');
    }
  });

  it("a user's MCP access token is authenticated but not an admin: 403", async () => {
    const bob = await h.signIn('bob');
    const res = await h.api('GET', '/tools', { token: await h.token(bob) });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'admin_forbidden', message: expect.stringContaining('not an admin credential') });
  });

  it('browser sign-in: a non-member of admin.group gets 403 and no session', async () => {
    const bob = await h.browserSignIn('bob');
    expect(bob.callback.status).toBe(403);
    expect(await bob.callback.text()).toContain('not a member of the admin group &#34;gateway-admins&#34;');
    expect(bob.cookie).toBeUndefined();
  });

  it('browser sign-in: a member gets an HttpOnly, SameSite=Lax session cookie; unsafe requests need the CSRF token; logout ends it', async () => {
    const alice = await h.browserSignIn('alice');
    expect(alice.callback.status).toBe(303);
    expect(alice.callback.headers.get('location')).toBe('/admin/tools');
    const setCookie = alice.callback.headers.getSetCookie().find((c) => c.startsWith('xaa-admin='))!;
    // On http loopback the __Host- prefix (which needs Secure) is dropped; see secureCookies().
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Path=\//);
    const cookie = alice.cookie!;

    const who = await h.api('GET', '/whoami', { token: null, headers: { Cookie: cookie } });
    expect(who.status).toBe(200);
    const { actor, csrfToken } = await who.json();
    expect(actor).toEqual({ kind: 'admin', via: 'session', iss: h.config.current.config.idp.issuer, sub: 'u-alice', email: 'alice@acme.example' });

    const lift = (headers: Record<string, string>) =>
      h.api('PUT', '/switches/agent/agent-zz', { token: null, headers: { Cookie: cookie, ...headers }, body: { reason: 'browser' } });
    expect((await lift({})).status).toBe(403);
    expect((await lift({ 'X-CSRF-Token': 'wrong' })).status).toBe(403);
    expect((await lift({ 'X-CSRF-Token': csrfToken, Origin: 'https://evil.example' })).status).toBe(403);
    const ok = await lift({ 'X-CSRF-Token': csrfToken, Origin: h.origin });
    expect(ok.status).toBe(201);
    expect((await ok.json()).switch.actor).toMatchObject({ via: 'session', sub: 'u-alice' });
    await h.api('DELETE', '/switches/agent/agent-zz');

    const out = await fetch(`${h.origin}/admin/logout`, { method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': csrfToken } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().some((c) => c.startsWith('xaa-admin=;') && c.includes('Max-Age=0'))).toBe(true);
    expect((await h.api('GET', '/whoami', { token: null, headers: { Cookie: cookie } })).status).toBe(401);
    const actions = (await h.env.audit()).filter((r) => r.type === 'admin_action' && r.actor?.sub === 'u-alice').map((r) => r.action);
    expect(actions).toEqual(['admin.sign_in', 'switch.set', 'admin.sign_out']);
  });

  it('/admin/login only returns to /admin paths (no open redirect)', async () => {
    const res = await fetch(`${h.origin}/admin/login?return_to=https://evil.example/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const pending = JSON.parse(Buffer.from(res.headers.get('set-cookie')!.split(';')[0]!.split('=')[1]!, 'base64url').toString());
    expect(pending.returnTo).toBe('/admin');
  });
});

describe('tools, resources and upstreams: validated, applied at once, written back', () => {
  const tool = (over: Record<string, unknown> = {}) => ({
    name: 'calendar_today',
    description: 'Free slots today',
    resource: 'calendar',
    scopes: ['calendar.read'],
    inputSchema: { type: 'object', properties: { date: { type: 'string' } }, required: ['date'] },
    http: { method: 'GET', url: `${h.env.demo.urls.calendar}/api/free-slots` },
    ...over,
  });

  it.each([
    [
      'a scope with a space',
      'PUT',
      '/tools/calendar_free_slots',
      (): unknown => ({ ...fileJson().tools[0], scopes: ['calendar read'] }),
      'tools[0].scopes[0]',
      /no spaces/,
    ],
    [
      'an unknown resource',
      'POST',
      '/tools',
      (): unknown => tool({ resource: 'crm2' }),
      (): string => `tools[${fileJson().tools.length}].resource`,
      /unknown resource "crm2"/,
    ],
    [
      'an unknown field',
      'POST',
      '/tools',
      (): unknown => tool({ colour: 'blue' }),
      (): string => `tools[${fileJson().tools.length}]`,
      /unknown field\(s\) "colour"/,
    ],
    [
      'a literal secret',
      'PUT',
      '/resources/calendar',
      (): unknown => ({ ...fileJson().resources.calendar, client: { clientId: 'x', auth: { method: 'client_secret_basic', clientSecret: 'hunter2' } } }),
      'resources.calendar.client.auth.clientSecret',
      /literal secret refused/,
    ],
    [
      'an unreadable secret file',
      'PUT',
      '/resources/calendar',
      (): unknown => ({
        ...fileJson().resources.calendar,
        client: { clientId: 'x', auth: { method: 'client_secret_basic', clientSecret: { file: 'no-such-secret.txt' } } },
      }),
      'resources.calendar.client.auth.clientSecret',
      /cannot read secret file/,
    ],
    [
      'a secret file outside the config directory (../../../../etc/shadow), refused before it is read',
      'PUT',
      '/resources/calendar',
      (): unknown => ({
        ...fileJson().resources.calendar,
        client: { clientId: 'x', auth: { method: 'client_secret_basic', clientSecret: { file: '../../../../etc/shadow' } } },
      }),
      'resources.calendar.client.auth.clientSecret',
      /secret file "\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow" is outside the config directory .*: an admin edit may only name secret files in that directory/,
    ],
    [
      'an absolute secret file elsewhere on the host',
      'PUT',
      '/resources/calendar',
      (): unknown => ({
        ...fileJson().resources.calendar,
        client: { clientId: 'x', auth: { method: 'client_secret_basic', clientSecret: { file: '/etc/passwd' } } },
      }),
      'resources.calendar.client.auth.clientSecret',
      /secret file "\/etc\/passwd" is outside the config directory/,
    ],
    [
      'an upstream without url',
      'POST',
      '/upstreams',
      (): unknown => ({ name: 'up2', prefix: 'up2_', client: fileJson().upstreams[0].client }),
      'upstreams[1].url',
      /./,
    ],
    ['a name differing from the URL', 'PUT', '/tools/calendar_free_slots', (): unknown => tool(), 'name', /renaming is delete \+ create/],
    ['deleting a resource tools still use', 'DELETE', '/resources/calendar', (): unknown => undefined, 'tools[0].resource', /unknown resource "calendar"/],
    ['a body that is not an object', 'POST', '/tools', (): unknown => [1, 2], '(body)', /expected a JSON object/],
  ] as const)('%s -> 400 admin_invalid naming the path', async (_label, method, path, body, pathOf, message) => {
    const before = fileHash();
    const issuePath = typeof pathOf === 'function' ? pathOf() : pathOf;
    const res = await h.api(method, path, { body: body(), ifMatch: await etag() });
    expect(res.status).toBe(400);
    const json = await res.json();
    expect(json.error).toBe('admin_invalid');
    expect(json.issues).toContainEqual({ path: issuePath, message: expect.stringMatching(message) });
    expect(fileHash()).toBe(before); // nothing written
    expect(h.config.current.hash).toBe(before);
  });

  it('writes need If-Match (428); a stale one is 409', async () => {
    const t = fileJson().tools[0];
    expect((await h.api('PUT', `/tools/${t.name}`, { body: t })).status).toBe(428);
    expect((await h.api('PUT', `/tools/${t.name}`, { body: t, ifMatch: '*' })).status).toBe(428);
    const stale = await h.api('PUT', `/tools/${t.name}`, { body: t, ifMatch: '"0000"' });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ error: 'admin_conflict', version: fileHash() });
  });

  it('create, read, patch, replace, delete: each applied to the running gateway and written atomically, $schema and secret refs kept', async () => {
    const v0 = await etag();
    expect(v0).toBe(`"${fileHash()}"`);
    const created = await h.api('POST', '/tools', { body: tool(), ifMatch: v0 });
    expect(created.status).toBe(201);
    const v1 = created.headers.get('etag')!;
    expect(v1).not.toBe(v0);
    expect(v1).toBe(`"${fileHash()}"`);
    expect(h.config.current.hash).toBe(fileHash()); // in force before the response
    expect(h.config.current.config.tools.find((t) => t.name === 'calendar_today')).toMatchObject({ scopes: ['calendar.read'], enabled: true });
    expect((await h.api('POST', '/tools', { body: tool(), ifMatch: v1 })).status).toBe(409); // exists

    const get = await h.api('GET', '/tools/calendar_today');
    expect(await get.json()).toEqual(tool()); // as written: no defaults filled in
    const patched = await h.api('PATCH', '/tools/calendar_today', {
      body: { scopes: ['calendar.read', 'calendar.write'], title: null },
      ifMatch: get.headers.get('etag')!,
    });
    expect(patched.status).toBe(200);
    expect(h.config.current.config.tools.find((t) => t.name === 'calendar_today')?.scopes).toEqual(['calendar.read', 'calendar.write']);

    const replaced = await h.api('PUT', '/tools/calendar_today', {
      body: tool({ description: 'Replaced', enabled: false }),
      ifMatch: patched.headers.get('etag')!,
    });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toEqual(tool({ description: 'Replaced', enabled: false }));

    const resources = await (await h.api('GET', '/resources')).json();
    expect(resources.resources.map((r: { name: string }) => r.name)).toContain('calendar');
    const upstreams = await (await h.api('GET', '/upstreams')).json();
    expect(upstreams.upstreams).toHaveLength(1);

    const deleted = await h.api('DELETE', '/tools/calendar_today', { ifMatch: replaced.headers.get('etag')! });
    expect(deleted.status).toBe(200);
    expect((await deleted.json()).deleted.description).toBe('Replaced');
    expect(h.config.current.config.tools.find((t) => t.name === 'calendar_today')).toBeUndefined();
    expect((await h.api('GET', '/tools/calendar_today')).status).toBe(404);

    const onDisk = fileJson();
    expect(Object.keys(onDisk)[0]).toBe('$schema');
    expect(onDisk.resources.calendar.client.auth.clientSecret).toEqual({ file: expect.stringMatching(/calendar-client-secret$/) });
    expect(onDisk.admin.tokens).toEqual([{ env: 'XAA_TEST_ADMIN_TOKEN' }]);

    const records = (await h.env.audit()).filter((r) => r.type === 'admin_action' && r.target?.tool === 'calendar_today');
    expect(records.map((r) => r.action)).toEqual(['tool.create', 'tool.update', 'tool.update', 'tool.delete']);
    expect(records[0]).toMatchObject({
      actor: { kind: 'admin', via: 'token' },
      before: null,
      after: tool(),
      target: { path: `tools[${fileJson().tools.length}]` },
    });
    expect(records[3]).toMatchObject({ before: { description: 'Replaced' }, after: null });
  });

  it('two PUTs with the same If-Match: one 200, one 409; the file and the running config agree', async () => {
    const v = await etag();
    const t = fileJson().tools[0];
    const [a, b] = await Promise.all([
      h.api('PUT', `/tools/${t.name}`, { body: { ...t, description: 'edit A' }, ifMatch: v }),
      h.api('PUT', `/tools/${t.name}`, { body: { ...t, description: 'edit B' }, ifMatch: v }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? 'edit A' : 'edit B';
    expect(fileJson().tools[0].description).toBe(winner);
    expect(h.config.current.config.tools[0]!.description).toBe(winner);
    expect(h.config.current.hash).toBe(fileHash());
    expect((a.status === 409 ? await a.json() : await b.json()).error).toBe('admin_conflict');
  });

  it('a hand edit changes the version: the stale API write is refused and the watcher applies the hand edit', async () => {
    const stale = await etag();
    const json = fileJson();
    json.tools[1].description = 'edited by hand';
    writeFileSync(h.env.configPath, JSON.stringify(json, null, 2));
    const res = await h.api('PUT', `/tools/${json.tools[0].name}`, { body: { ...json.tools[0], description: 'API edit' }, ifMatch: stale });
    expect(res.status).toBe(409);
    expect(fileJson().tools[1].description).toBe('edited by hand');
    await expect.poll(() => h.config.current.config.tools[1]!.description, { timeout: 5_000 }).toBe('edited by hand');
    expect(h.config.current.hash).toBe(fileHash());
    // With the new version the API edit goes through and keeps the hand edit.
    const fresh = await h.api('PUT', `/tools/${json.tools[0].name}`, { body: { ...json.tools[0], description: 'API edit' }, ifMatch: await etag() });
    expect(fresh.status).toBe(200);
    expect(
      fileJson()
        .tools.map((t: { description: string }) => t.description)
        .slice(0, 2),
    ).toEqual(['API edit', 'edited by hand']);
  });
});

describe('sessions', () => {
  it('lists signed-in users with their agents; revoking one signs it out and purges the user’s cached tokens', async () => {
    const carolLike = await h.signIn('bob');
    const now = Date.now();
    await h.store.saveRefreshToken({
      tokenHash: `rt-${carolLike.id}`,
      familyId: `fam-${carolLike.id}`,
      sessionId: carolLike.id,
      clientId: AGENT_A.clientId,
      scopes: ['mcp:tools'],
      resource: h.mcpUrl,
      createdAt: now,
      expiresAt: now + 3_600_000,
    });
    const token = await h.token(carolLike);
    expect(await h.call(token, 'calendar_free_slots', { date: '2025-12-01' })).toMatchObject({ status: 200, isError: false });

    const list = await (await h.api('GET', '/sessions')).json();
    const mine = list.sessions.find((s: { id: string }) => s.id === carolLike.id);
    expect(mine).toMatchObject({
      user: { sub: 'u-bob', email: 'bob@acme.example' },
      agents: [{ clientId: AGENT_A.clientId, clientName: AGENT_A.clientName, scopes: ['mcp:tools'] }],
    });

    const revoked = await h.api('DELETE', `/sessions/${carolLike.id}`, { body: { reason: 'lost laptop' } });
    expect(revoked.status).toBe(200);
    expect((await revoked.json()).revoked).toEqual({ sessions: 1, refreshTokens: 1, downstreamTokens: 1 });
    expect((await h.store.getUserSession(carolLike.id))?.revokedAt).toBeDefined();
    expect((await h.store.getRefreshToken(`rt-${carolLike.id}`))?.revokedAt).toBeDefined();
    expect((await h.call(token, 'calendar_free_slots', { date: '2025-12-01' })).status).toBe(401);
    expect((await h.api('DELETE', `/sessions/${carolLike.id}`)).status).toBe(404);
    const gone = await (await h.api('GET', '/sessions')).json();
    expect(gone.sessions.find((s: { id: string }) => s.id === carolLike.id)).toBeUndefined();
  });
});

describe('audit', () => {
  it('every admin action is in the hash chain and the chain verifies', async () => {
    const records = await h.env.audit();
    const actions = new Set(records.filter((r) => r.type === 'admin_action').map((r) => r.action));
    expect([...actions]).toEqual(expect.arrayContaining(['admin.sign_in', 'switch.set', 'tool.create', 'tool.update', 'tool.delete', 'session.revoke']));
    for (const r of records.filter((x) => x.type === 'admin_action'))
      expect(r).toMatchObject({ phase: 'outcome', actor: { kind: 'admin' }, seq: expect.any(Number), hash: expect.any(String) });
    // No secret reached the log: not the admin token, not a session cookie.
    expect(JSON.stringify(records)).not.toContain(process.env.XAA_TEST_ADMIN_TOKEN!);
    expect(await verifyAuditDir(h.env.auditDir)).toMatchObject({ ok: true, count: records.length });
  });
});
