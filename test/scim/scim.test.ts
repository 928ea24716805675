import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/types.js';
import { queryAudit } from '../../src/audit/index.js';
import { resolveScimClients } from '../../src/scim/index.js';
import type { UserSession } from '../../src/store/index.js';
import { startAdminHarness, type AdminHarness } from '../admin/harness.js';

/**
 * The SCIM 2.0 receiver (issue 11, point 1) over real HTTP on loopback, with the real store, kill
 * switches and audit log: Okta's and Entra's request shapes, deprovisioning that denies the next
 * call, re-activation that lifts only what SCIM set, access groups, and the bad-input battery.
 */

const OKTA_TOKEN = randomBytes(32).toString('base64url');
const ENTRA_TOKEN = randomBytes(32).toString('base64url');
const GROUPS_TOKEN = randomBytes(32).toString('base64url');
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const FREE_SLOTS = ['calendar_free_slots', { date: '2025-12-01' }] as const;

let h: AdminHarness;
let alice: UserSession;

beforeAll(async () => {
  process.env.XAA_TEST_SCIM_OKTA = OKTA_TOKEN;
  process.env.XAA_TEST_SCIM_ENTRA = ENTRA_TOKEN;
  process.env.XAA_TEST_SCIM_GROUPS = GROUPS_TOKEN;
  h = await startAdminHarness((c) => {
    c.scim = {
      clients: [
        ...c.scim!.clients, // the demo IdP's (demoConfig)
        { name: 'okta', token: { env: 'XAA_TEST_SCIM_OKTA' } },
        { name: 'entra', token: { env: 'XAA_TEST_SCIM_ENTRA' }, subject: 'email' },
        { name: 'groups', token: { env: 'XAA_TEST_SCIM_GROUPS' }, accessGroups: ['XAA Users'] },
      ],
    };
  });
  alice = await h.signIn('alice');
});
afterAll(async () => {
  await h?.close();
  for (const k of ['XAA_TEST_SCIM_OKTA', 'XAA_TEST_SCIM_ENTRA', 'XAA_TEST_SCIM_GROUPS']) delete process.env[k];
});

interface Sent {
  status: number;
  body: Record<string, unknown> | undefined;
  headers: Headers;
}

async function scim(
  method: string,
  path: string,
  o: { token?: string | null; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const token = o.token === undefined ? OKTA_TOKEN : o.token;
  const res = await fetch(`${h.origin}/scim/v2${path}`, {
    method,
    headers: {
      ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
      ...(o.body !== undefined || o.raw !== undefined ? { 'Content-Type': o.type ?? 'application/scim+json' } : {}),
      ...o.headers,
    },
    ...(o.raw !== undefined ? { body: o.raw } : o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, headers: res.headers };
}

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });
const oktaUser = (userName: string, externalId: string, active = true) => ({
  schemas: [USER],
  userName,
  externalId,
  name: { givenName: 'Test', familyName: userName },
  emails: [{ primary: true, value: userName, type: 'work' }],
  displayName: userName,
  locale: 'en-US',
  password: 'never-stored-Passw0rd!',
  active,
  groups: [],
});

async function records(type: string, requestId?: string): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for await (const r of queryAudit(h.config.current.auditDir)) all.push(r);
  return all.filter(
    (r) =>
      r.type === type &&
      (requestId === undefined ||
        (r.scim as { requestId?: string } | undefined)?.requestId === requestId ||
        (r.actor as { requestId?: string } | undefined)?.requestId === requestId),
  );
}

async function callAsAlice() {
  return h.call(await h.token(await h.signIn('alice')), ...FREE_SLOTS);
}

describe('SCIM: authentication and discovery', () => {
  it.each([
    ['no Authorization header', null, 401, 'Bearer realm="scim"'],
    ['a token of no client', 'x'.repeat(43), 401, 'Bearer realm="scim", error="invalid_token"'],
    ['Basic instead of Bearer', 'basic', 401, 'Bearer realm="scim"'],
  ] as const)('%s: %i with a challenge', async (_name, token, status, challenge) => {
    const res =
      token === 'basic'
        ? await scim('GET', '/Users', { token: null, headers: { Authorization: `Basic ${Buffer.from(`okta:${OKTA_TOKEN}`).toString('base64')}` } })
        : await scim('GET', '/Users', { token });
    expect(res.status).toBe(status);
    expect(res.headers.get('www-authenticate')).toBe(challenge);
    expect(res.headers.get('content-type')).toBe('application/scim+json');
    expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status) });
    expect(JSON.stringify(res.body)).not.toContain(OKTA_TOKEN);
  });

  it('discovery: ServiceProviderConfig, ResourceTypes and Schemas say what is supported', async () => {
    const spc = await scim('GET', '/ServiceProviderConfig');
    expect(spc.status).toBe(200);
    expect(spc.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: 200 },
      etag: { supported: true },
    });
    const types = await scim('GET', '/ResourceTypes');
    expect((types.body!.Resources as Array<{ id: string }>).map((r) => r.id)).toEqual(['User', 'Group']);
    expect((await scim('GET', '/ResourceTypes/User')).body).toMatchObject({ endpoint: '/Users', schema: USER });
    expect((await scim('GET', `/Schemas/${USER}`)).body).toMatchObject({ id: USER, name: 'User' });
    expect((await scim('GET', '/Schemas/urn:nope')).status).toBe(404);
  });
});

describe('SCIM: Okta provisions and deprovisions alice', () => {
  let id: string;

  it('filter, create, conflict, read: the resource round-trips without its password', async () => {
    const none = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "alice@acme.example"')}&startIndex=1&count=100`);
    expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });

    const created = await scim('POST', '/Users', { body: oktaUser('alice@acme.example', alice.sub), headers: { 'X-Request-Id': 'okta-create-1' } });
    expect(created.status).toBe(201);
    id = created.body!.id as string;
    expect(created.headers.get('location')).toBe(`${h.origin}/scim/v2/Users/${id}`);
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.headers.get('x-request-id')).toBe('okta-create-1');
    expect(created.body).toMatchObject({
      userName: 'alice@acme.example',
      externalId: alice.sub,
      active: true,
      meta: { resourceType: 'User', version: 'W/"1"' },
    });
    expect(created.body).not.toHaveProperty('password');

    const again = await scim('POST', '/Users', { body: oktaUser('ALICE@acme.example', 'other') });
    expect(again).toMatchObject({ status: 409, body: { scimType: 'uniqueness', status: '409' } });

    // userName is compared case-insensitively (RFC 7643 §4.1.1), externalId exactly.
    const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "Alice@ACME.example"')}`);
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id }] });
    expect((await scim('GET', `/Users?filter=${encodeURIComponent(`externalId eq "${alice.sub.toUpperCase()}"`)}`)).body).toMatchObject({ totalResults: 0 });
    const read = await scim('GET', `/Users/${id}`);
    expect(read.body).not.toHaveProperty('password');
    expect(read.body).toMatchObject({ id, groups: [] });
    expect(await callAsAlice()).toMatchObject({ status: 200, isError: false });
  });

  it('PATCH active false: the switch is set by SCIM, her next call is denied, the request is audited with its id', async () => {
    const res = await scim('PATCH', `/Users/${id}`, { body: patch({ op: 'replace', value: { active: false } }), headers: { 'X-Request-Id': 'okta-deact-1' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ active: false, meta: { version: 'W/"2"' } });

    const sw = h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } });
    expect(sw).toMatchObject({ actor: { kind: 'scim', client: 'okta', requestId: 'okta-deact-1' } });
    expect(sw!.reason).toBe('SCIM okta: user alice@acme.example deactivated (active: false)');
    expect((await h.store.getUserSession(alice.id))?.revokedAt).toBeDefined();

    const denied = await callAsAlice();
    expect(denied).toMatchObject({ status: 200, isError: true });
    expect(denied.text).toContain('[kill_switch]');
    expect(denied.text).toContain('SCIM okta');

    const [summary] = await records('scim_request', 'okta-deact-1');
    expect(summary).toMatchObject({
      user: { iss: alice.iss, sub: alice.sub },
      outcome: { ok: true, status: 200 },
      scim: { client: 'okta', method: 'PATCH', resourceType: 'User', id, effects: [{ effect: 'deprovisioned', user: { sub: alice.sub } }] },
    });
    const [set] = await records('admin_action', 'okta-deact-1');
    expect(set).toMatchObject({ action: 'switch.set', actor: { kind: 'scim', client: 'okta', requestId: 'okta-deact-1' } });
  });

  it('the same PATCH replayed: 200, nothing set again, audited as already disabled', async () => {
    const res = await scim('PATCH', `/Users/${id}`, { body: patch({ op: 'replace', value: { active: false } }), headers: { 'X-Request-Id': 'okta-deact-2' } });
    expect(res.status).toBe(200);
    expect(await records('admin_action', 'okta-deact-2')).toEqual([]);
    const [summary] = await records('scim_request', 'okta-deact-2');
    expect(summary).toMatchObject({ scim: { effects: [{ effect: 'already_disabled' }] } });
  });

  it('If-Match with an old version: 412 and nothing changed; with the current one: applied', async () => {
    const stale = await scim('PATCH', `/Users/${id}`, { body: patch({ op: 'replace', value: { active: true } }), headers: { 'If-Match': 'W/"1"' } });
    expect(stale).toMatchObject({ status: 412, body: { status: '412' } });
    expect((await scim('GET', `/Users/${id}`)).body).toMatchObject({ active: false });
    const current = (await scim('GET', `/Users/${id}`)).headers.get('etag')!;
    const ok = await scim('PATCH', `/Users/${id}`, {
      body: patch({ op: 'replace', value: { active: true } }),
      headers: { 'If-Match': current, 'X-Request-Id': 'okta-react-1' },
    });
    expect(ok.status).toBe(200);
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } })).toBeUndefined();
    expect(await callAsAlice()).toMatchObject({ status: 200, isError: false });
    const [lift] = await records('admin_action', 'okta-react-1');
    expect(lift).toMatchObject({ action: 'switch.lift', actor: { kind: 'scim', requestId: 'okta-react-1' } });
  });

  it("re-activation lifts only what SCIM set: an admin's switch stays", async () => {
    const user = { iss: alice.iss, sub: alice.sub };
    await h.control.setSwitch({ kind: 'user', user }, 'incident 42', { kind: 'admin', via: 'token' });
    await scim('PATCH', `/Users/${id}`, { body: patch({ op: 'replace', path: 'active', value: false }) });
    const res = await scim('PATCH', `/Users/${id}`, {
      body: patch({ op: 'replace', path: 'active', value: true }),
      headers: { 'X-Request-Id': 'okta-react-2' },
    });
    expect(res.status).toBe(200);
    expect(h.control.getSwitch({ kind: 'user', user })).toMatchObject({ reason: 'incident 42', actor: { kind: 'admin' } });
    const [summary] = await records('scim_request', 'okta-react-2');
    expect(summary).toMatchObject({ scim: { effects: [{ effect: 'kept_disabled' }] } });
    await h.control.liftSwitch({ kind: 'user', user }, 'test cleanup', { kind: 'admin', via: 'token' });
  });

  it('DELETE deprovisions; the user is gone (404), a second DELETE is 404; created again, she is back', async () => {
    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } })?.reason).toBe('SCIM okta: user alice@acme.example deleted');
    expect((await scim('GET', `/Users/${id}`)).status).toBe(404);
    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(404);
    expect((await callAsAlice()).isError).toBe(true);
    const again = await scim('POST', '/Users', { body: oktaUser('alice@acme.example', alice.sub) });
    expect(again.status).toBe(201);
    id = again.body!.id as string;
    expect(await callAsAlice()).toMatchObject({ status: 200, isError: false });
  });

  it("each client has its own namespace: Entra's token does not see Okta's users", async () => {
    expect((await scim('GET', `/Users/${id}`, { token: ENTRA_TOKEN })).status).toBe(404);
    expect((await scim('GET', '/Users', { token: ENTRA_TOKEN })).body).toMatchObject({ totalResults: 0 });
  });
});

describe('SCIM: Entra request shapes (email subject)', () => {
  it('"Replace" with the string "False" deactivates; a user without a sign-in is unresolved, and audited so', async () => {
    const created = await scim('POST', '/Users', {
      token: ENTRA_TOKEN,
      body: {
        schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
        userName: 'alice@acme.example',
        externalId: 'alice',
        active: true,
        emails: [{ primary: true, type: 'work', value: 'alice@acme.example' }],
      },
    });
    expect(created.status).toBe(201);
    const id = created.body!.id as string;
    const res = await scim('PATCH', `/Users/${id}`, {
      token: ENTRA_TOKEN,
      body: patch({ op: 'Replace', path: 'active', value: 'False' }),
      headers: { 'client-request-id': 'entra-1' },
    });
    expect(res).toMatchObject({ status: 200, body: { active: false } });
    expect(res.headers.get('x-request-id')).toBe('entra-1');
    // Matched through her gateway sign-ins' email.
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } })).toMatchObject({ actor: { kind: 'scim', client: 'entra' } });
    await scim('PATCH', `/Users/${id}`, { token: ENTRA_TOKEN, body: patch({ op: 'Replace', path: 'active', value: 'True' }) });
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } })).toBeUndefined();

    const nobody = await scim('POST', '/Users', {
      token: ENTRA_TOKEN,
      body: { schemas: [USER], userName: 'dana@acme.example', active: false },
      headers: { 'X-Request-Id': 'entra-2' },
    });
    expect(nobody.status).toBe(201);
    const [summary] = await records('scim_request', 'entra-2');
    expect(summary).toMatchObject({ scim: { effects: [{ effect: 'unresolved', why: 'deactivated (active: false)' }] } });
  });
});

describe('SCIM: access groups (membership grants gateway access)', () => {
  let bob: UserSession;
  let bobId: string;
  let groupId: string;
  const bobSwitch = () => h.control.getSwitch({ kind: 'user', user: { iss: bob.iss, sub: bob.sub } });

  beforeAll(async () => {
    bob = await h.signIn('bob');
  });

  it('a member of "XAA Users" is entitled; removed from it (Okta path filter) they are disabled; replayed, nothing more', async () => {
    bobId = (await scim('POST', '/Users', { token: GROUPS_TOKEN, body: oktaUser('bob@acme.example', bob.sub) })).body!.id as string;
    const group = await scim('POST', '/Groups', {
      token: GROUPS_TOKEN,
      body: { schemas: [GROUP], displayName: 'XAA Users', members: [{ value: bobId, display: 'bob' }] },
    });
    expect(group.status).toBe(201);
    groupId = group.body!.id as string;
    expect(bobSwitch()).toBeUndefined();
    expect((await scim('GET', `/Users/${bobId}`, { token: GROUPS_TOKEN })).body).toMatchObject({ groups: [{ value: groupId, display: 'XAA Users' }] });
    // Entra reads groups without their members.
    expect((await scim('GET', `/Groups/${groupId}?excludedAttributes=members`, { token: GROUPS_TOKEN })).body).not.toHaveProperty('members');

    const removal = patch({ op: 'remove', path: `members[value eq "${bobId}"]` });
    expect((await scim('PATCH', `/Groups/${groupId}`, { token: GROUPS_TOKEN, body: removal })).status).toBe(200);
    expect(bobSwitch()?.reason).toBe('SCIM groups: user bob@acme.example in none of the access groups (XAA Users)');
    const replay = await scim('PATCH', `/Groups/${groupId}`, { token: GROUPS_TOKEN, body: removal, headers: { 'X-Request-Id': 'grp-replay' } });
    expect(replay.status).toBe(200);
    expect(await records('admin_action', 'grp-replay')).toEqual([]);
  });

  it('added back (Entra "Add" with a value list): enabled again; a group that grants nothing changes nothing', async () => {
    const add = await scim('PATCH', `/Groups/${groupId}`, { token: GROUPS_TOKEN, body: patch({ op: 'Add', path: 'members', value: [{ value: bobId }] }) });
    expect(add.status).toBe(200);
    expect(bobSwitch()).toBeUndefined();
    const other = await scim('POST', '/Groups', { token: GROUPS_TOKEN, body: { schemas: [GROUP], displayName: 'Finance', members: [{ value: bobId }] } });
    expect(other.status).toBe(201);
    expect((await scim('DELETE', `/Groups/${other.body!.id as string}`, { token: GROUPS_TOKEN })).status).toBe(204);
    expect(bobSwitch()).toBeUndefined();
    // Deleting the access group removes everyone from it.
    expect((await scim('DELETE', `/Groups/${groupId}`, { token: GROUPS_TOKEN })).status).toBe(204);
    expect(bobSwitch()?.actor).toMatchObject({ kind: 'scim', client: 'groups' });
    await h.control.liftSwitch({ kind: 'user', user: { iss: bob.iss, sub: bob.sub } }, 'test cleanup', { kind: 'admin', via: 'token' });
  });
});

describe('SCIM: bad input gets a precise error and changes nothing', () => {
  let id: string;
  beforeAll(async () => {
    id = (await scim('POST', '/Users', { body: oktaUser('carol@acme.example', 'u-carol-scim') })).body!.id as string;
  });

  const huge = JSON.stringify({ schemas: [USER], userName: 'big@acme.example', blob: 'x'.repeat(1024 * 1024 + 10) });
  it.each([
    ['malformed JSON', 'POST', '/Users', { raw: '{"schemas": [' }, 400, 'invalidSyntax', 'not JSON'],
    ['a form instead of JSON', 'POST', '/Users', { raw: 'userName=x', type: 'application/x-www-form-urlencoded' }, 400, 'invalidSyntax', 'Content-Type'],
    ['an array body', 'POST', '/Users', { body: [] }, 400, 'invalidSyntax', 'JSON object'],
    ['no schemas', 'POST', '/Users', { body: { userName: 'x@acme.example' } }, 400, 'invalidValue', 'schemas'],
    ['no userName', 'POST', '/Users', { body: { schemas: [USER] } }, 400, 'invalidValue', 'userName is required'],
    [
      'active "maybe"',
      'POST',
      '/Users',
      { body: { schemas: [USER], userName: 'm@acme.example', active: 'maybe' } },
      400,
      'invalidValue',
      'active must be true or false',
    ],
    [
      'a __proto__ attribute',
      'POST',
      '/Users',
      { raw: `{"schemas":["${USER}"],"userName":"p@acme.example","__proto__":{"admin":true}}` },
      400,
      'invalidValue',
      '__proto__',
    ],
    [
      'nested too deep',
      'POST',
      '/Users',
      { body: { schemas: [USER], userName: 'd@acme.example', x: JSON.parse('{"a":'.repeat(12) + '1' + '}'.repeat(12)) } },
      400,
      'invalidValue',
      'nested deeper',
    ],
    ['a body over 1 MiB', 'POST', '/Users', { raw: huge }, 413, undefined, 'limited to 1048576 bytes'],
    ['filter syntax', 'GET', `/Users?filter=${encodeURIComponent('userName eq')}`, {}, 400, 'invalidFilter', 'not valid SCIM filter'],
    ['count not a number', 'GET', '/Users?count=ten', {}, 400, 'invalidValue', 'count must be an integer'],
    [
      'PATCH without PatchOp schema',
      'PATCH',
      '/Users/ID',
      { body: { Operations: [{ op: 'replace', value: { active: false } }] } },
      400,
      'invalidSyntax',
      'PatchOp',
    ],
    ['PATCH with an unknown op', 'PATCH', '/Users/ID', { body: patch({ op: 'merge', value: {} }) }, 400, 'invalidSyntax', 'PatchOp'],
    [
      'PATCH with 1001 operations',
      'PATCH',
      '/Users/ID',
      { body: patch(...Array.from({ length: 1001 }, () => ({ op: 'replace', path: 'displayName', value: 'x' }))) },
      400,
      'tooMany',
      'at most 1000',
    ],
    ['PATCH a prototype path', 'PATCH', '/Users/ID', { body: patch({ op: 'add', path: '__proto__.admin', value: true }) }, 400, 'invalidPath', 'not allowed'],
    ['PATCH removing userName', 'PATCH', '/Users/ID', { body: patch({ op: 'remove', path: 'userName' }) }, 400, 'invalidValue', 'userName is required'],
    ['an unknown user', 'PATCH', '/Users/nope', { body: patch({ op: 'replace', value: { active: false } }) }, 404, undefined, 'not found'],
    [
      'a group with an unknown member',
      'POST',
      '/Groups',
      { body: { schemas: [GROUP], displayName: 'G', members: [{ value: 'ghost' }] } },
      400,
      'invalidValue',
      'no User with id "ghost"',
    ],
    [
      'a nested group member',
      'POST',
      '/Groups',
      { body: { schemas: [GROUP], displayName: 'G', members: [{ value: 'x', type: 'Group' }] } },
      400,
      'invalidValue',
      'no nested groups',
    ],
    ['bulk', 'POST', '/Bulk', { body: {} }, 404, undefined, 'not supported'],
    ['an unknown endpoint', 'GET', '/Devices', {}, 404, undefined, 'no SCIM endpoint'],
  ] as const)('%s: %s %s -> %i', async (_name, method, path, o, status, scimType, detail) => {
    const before = (await scim('GET', `/Users/${id}`)).body;
    const res = await scim(method, path.replace('ID', id), o as never);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status), ...(scimType ? { scimType } : {}) });
    expect(String(res.body!.detail)).toContain(detail);
    expect((await scim('GET', `/Users/${id}`)).body).toEqual(before);
    expect(h.control.listSwitches().filter((s) => s.actor.kind === 'scim' && s.reason.includes('carol'))).toEqual([]);
  });
});

describe("SCIM: the demo IdP's provisioning client (Okta-shaped) against the receiver", () => {
  it('provisions the demo users; deactivating alice at the IdP denies her next call, activating her lifts it', async () => {
    const scimToken = resolveScimClients(h.config.current)!.find((c) => c.name === 'demo-idp')!.token;
    const demo = h.env.demo;
    const target = await demo.scim.connect({ baseUrl: `${h.origin}/scim/v2`, token: scimToken });
    const synced = demo.scim.deliveries.filter((d) => d.targetId === target.id);
    expect(synced.filter((d) => d.method === 'POST').map((d) => [d.username, d.status])).toEqual([
      ['alice', 201],
      ['bob', 201],
      ['carol', 201],
    ]);
    // carol is inactive at the IdP: provisioned inactive, so disabled at the gateway.
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: 'u-carol' } })).toMatchObject({ actor: { kind: 'scim', client: 'demo-idp' } });
    const token = await h.token(await h.signIn('alice'));
    expect(await h.call(token, ...FREE_SLOTS)).toMatchObject({ status: 200, isError: false });

    demo.control.setUserActive('alice', false);
    await demo.scim.flush();
    const pushed = demo.scim.deliveries.at(-1)!;
    expect(pushed).toMatchObject({ method: 'PATCH', username: 'alice', status: 200 });
    // Her gateway session was revoked with the switch: the agent's token is refused.
    expect(await h.call(token, ...FREE_SLOTS)).toMatchObject({ status: 401 });
    expect(h.control.getSwitch({ kind: 'user', user: { iss: alice.iss, sub: alice.sub } })?.reason).toBe(
      'SCIM demo-idp: user alice@acme.example deactivated (active: false)',
    );

    demo.control.setUserActive('alice', true);
    await demo.scim.flush();
    expect(await callAsAlice()).toMatchObject({ status: 200, isError: false });
    expect(demo.scim.disconnect(target.id)).toBe(true);
  });
});
