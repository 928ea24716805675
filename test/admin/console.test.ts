import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserSession } from '../../src/store/index.js';
import { ADMIN_TOKEN, AGENT_A, startAdminHarness, type AdminHarness } from './harness.js';

/**
 * The admin console (/admin) over real HTTP on loopback: who may see it, CSRF on every form,
 * config edits through the same editor as the API (inline errors with JSON paths, stale
 * versions refused, valid edits in the file and the running gateway), kill switches, sessions,
 * the audit page (filters, chart buckets, chain verification), and signing out.
 */

/** Console pages load nothing but their own stylesheet and post forms only to the gateway (and the IdP). */
const CONSOLE_CSP =
  /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self' http:\/\/127\.0\.0\.1:\d+; frame-ancestors 'none'; base-uri 'none'$/;

let h: AdminHarness;
let cookie: string;
let csrf: string;
let alice: UserSession;

const fileBytes = () => readFileSync(h.env.configPath);
const fileHash = () => createHash('sha256').update(fileBytes()).digest('hex');
const fileJson = (): any => JSON.parse(fileBytes().toString('utf8'));
const toolIndex = (name: string) => fileJson().tools.findIndex((t: { name: string }) => t.name === name);

function get(path: string, headers: Record<string, string> = { Cookie: cookie }): Promise<Response> {
  return fetch(`${h.origin}${path}`, { redirect: 'manual', headers });
}

function postForm(
  path: string,
  fields: Record<string, string>,
  o: { csrf?: string | null; cookie?: string | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const body = new URLSearchParams(fields);
  const token = o.csrf === undefined ? csrf : o.csrf;
  if (token !== null) body.set('_csrf', token);
  const c = o.cookie === undefined ? cookie : o.cookie;
  return fetch(`${h.origin}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(c ? { Cookie: c } : {}), ...o.headers },
    body,
  });
}

/** Follows a PRG redirect with the flash cookie it set, as a browser would. */
async function follow(res: Response): Promise<{ html: string; flash: string | undefined }> {
  expect(res.status).toBe(303);
  const flashCookie = res.headers
    .getSetCookie()
    .find((c) => c.startsWith('xaa-admin-flash='))
    ?.split(';')[0];
  const page = await get(res.headers.get('location')!, { Cookie: [cookie, flashCookie].filter(Boolean).join('; ') });
  expect(page.status).toBe(200);
  const html = await page.text();
  const raw = /<div class="flash (?:ok|warn|error)" role="(?:status|alert)">([^<]*)<\/div>/.exec(html)?.[1];
  const flash = raw === undefined ? undefined : unescape(raw);
  return { html, flash };
}

/** The text of the element with this id (no nesting of the same tag inside). */
function byId(html: string, id: string): string | undefined {
  const m = new RegExp(`<(\\w+)[^>]* id="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return m?.[2];
}

const unescape = (s: string) =>
  s
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

beforeAll(async () => {
  h = await startAdminHarness();
  const signIn = await h.browserSignIn('alice');
  cookie = signIn.cookie!;
  csrf = (await (await h.api('GET', '/whoami', { token: null, headers: { Cookie: cookie } })).json()).csrfToken;
  alice = await h.signIn('alice');
});
afterAll(() => h?.close());

describe('who may see the console', () => {
  const PAGES = ['/admin/tools', '/admin/tools/calendar_free_slots', '/admin/switches', '/admin/sessions', '/admin/audit?tool=crm_get_customer&range=7d'];

  it.each(PAGES)('%s: no session -> 302 to /admin/login with return_to; admin session -> 200 HTML with a strict CSP', async (path) => {
    const anon = await get(path, {});
    expect(anon.status).toBe(302);
    expect(anon.headers.get('location')).toBe(`/admin/login?return_to=${encodeURIComponent(path)}`);

    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(CONSOLE_CSP);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html><html lang="en">/);
    expect(html).not.toContain('<script');
    expect(html).toContain('Signed in as alice@acme.example');
    // Every POST form carries the session's CSRF token.
    const forms = html.match(/<form method="post"[\s\S]*?<\/form>/g) ?? [];
    expect(forms.length).toBeGreaterThan(0);
    for (const f of forms) expect(f).toContain(`<input type="hidden" name="_csrf" value="${csrf}"/>`);
  });

  it('the store holds neither the session cookie nor its CSRF token: only their SHA-256', async () => {
    const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1).split(';')[0]!);
    const sha = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');
    const session = await h.store.getAdminSession(sha(value), Date.now());
    expect(session).toBeDefined();
    expect(session!.csrf).toBe(sha(csrf));
    expect(JSON.stringify(session)).not.toContain(csrf);
    expect(JSON.stringify(session)).not.toContain(value);
  });

  it('/admin goes to the tools page; a login round trip returns to the page asked for', async () => {
    const root = await get('/admin');
    expect([root.status, root.headers.get('location')]).toEqual([302, '/admin/tools']);
    const start = await fetch(`${h.origin}/admin/login?return_to=${encodeURIComponent('/admin/audit?outcome=denied')}`, { redirect: 'manual' });
    const pending = JSON.parse(Buffer.from(start.headers.get('set-cookie')!.split(';')[0]!.split('=')[1]!, 'base64url').toString());
    expect(pending.returnTo).toBe('/admin/audit?outcome=denied');
  });

  it.each([
    [
      'an MCP access token of a user',
      async () => ({ Authorization: `Bearer ${await h.token(await h.signIn('bob'))}` }),
      403,
      'Not allowed',
      'not an admin credential',
    ],
    ['a wrong bearer token', async () => ({ Authorization: `Bearer ${'x'.repeat(43)}` }), 401, 'Sign-in required', 'the admin token is not valid'],
  ] as const)('%s -> %s HTML page', async (_label, headers, status, title, message) => {
    const res = await get('/admin/switches', await headers());
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = unescape(await res.text());
    expect(html).toContain(`<h1>${title}</h1>`);
    expect(html).toContain(message);
    expect(html).not.toContain('Signed in as');
  });

  it('a non-member of the admin group is refused at sign-in (403) and the console still redirects', async () => {
    const bob = await h.browserSignIn('bob');
    expect(bob.callback.status).toBe(403);
    expect(await bob.callback.text()).toContain('Not an administrator');
    expect(bob.cookie).toBeUndefined();
    const res = await get('/admin/tools', { Cookie: `xaa-admin=${randomBytes(32).toString('base64url')}` });
    expect([res.status, res.headers.get('location')]).toEqual([302, '/admin/login?return_to=%2Fadmin%2Ftools']);
  });

  it('the admin token (automation) may read the console too', async () => {
    const res = await get('/admin/sessions', { Authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Signed in as admin token');
  });
});

describe('CSRF on every console POST', () => {
  const SET = { do: 'set connection calendar', clientId: 'agent-csrf', reason: 'csrf test', back: '/admin/switches' };

  it.each([
    ['no _csrf field', { csrf: null }, 403, 'CSRF token missing or wrong'],
    ['a wrong _csrf', { csrf: 'not-the-token' }, 403, 'CSRF token missing or wrong'],
    ['the right _csrf from a foreign Origin', { headers: { Origin: 'https://evil.example' } }, 403, 'requests from origin https://evil.example are refused'],
    ['no session at all', { cookie: null, csrf: null }, 401, 'admin credentials required'],
  ] as const)('%s -> %s and nothing changes', async (_label, o, status, message) => {
    for (const path of ['/admin/switches', '/admin/tools/calendar_free_slots', '/admin/sessions/x/revoke', '/admin/audit/verify']) {
      const before = fileHash();
      const res = await postForm(path, { ...SET, version: before, scopes: 'calendar.write', description: 'x', resource: 'calendar' }, o);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(unescape(await res.text())).toContain(message);
      expect(fileHash()).toBe(before);
    }
    expect(h.control.listSwitches()).toEqual([]);
  });

  it('with the token the same form sets the switch (303 + flash), and it shows who set it', async () => {
    const { flash, html } = await follow(await postForm('/admin/switches', SET));
    expect(flash).toBe('Disabled connection "agent-csrf" -> "calendar": in force from the next call.');
    expect(h.control.listSwitches()).toMatchObject([
      {
        switch: { kind: 'connection', clientId: 'agent-csrf', resource: 'calendar' },
        reason: 'csrf test',
        actor: { via: 'session', email: 'alice@acme.example' },
      },
    ]);
    const row = /<tr data-switch="connection &quot;agent-csrf&quot; -> &quot;calendar&quot;">([\s\S]*?)<\/tr>/.exec(html)![1]!;
    expect(row).toContain('csrf test');
    expect(row).toContain('by alice@acme.example');
    // Lifted through the "Switches in force" row's form (by switch key).
    const key = unescape(/name="key" value="([^"]+)"/.exec(row)![1]!);
    const lifted = await follow(await postForm('/admin/switches', { do: 'lift key', key, reason: 'done', back: '/admin/switches#current' }));
    expect(lifted.flash!).toBe('Enabled connection "agent-csrf" -> "calendar" again.');
    expect(h.control.listSwitches()).toEqual([]);
  });
});

describe('tool edits: inline errors with the JSON path, stale versions refused, valid edits applied', () => {
  const TOOL = 'crm_search_customers';
  const fields = (over: Record<string, string> = {}) => {
    const t = fileJson().tools[toolIndex(TOOL)];
    return { version: fileHash(), resource: t.resource, scopes: t.scopes.join(' '), title: t.title ?? '', description: t.description, enabled: 'on', ...over };
  };

  it.each([
    [
      'a scope with a quote',
      { scopes: 'crm.read crm"write' },
      'scopes',
      (i: number) => `tools[${i}].scopes[1]`,
      'a scope token has no spaces or quotes (RFC 6749 §3.3)',
    ],
    ['an empty description', { description: '   ' }, 'description', (i: number) => `tools[${i}].description`, 'Too small'],
    ['an unknown resource (crafted form)', { resource: 'crm2' }, 'resource', (i: number) => `tools[${i}].resource`, 'unknown resource "crm2"'],
  ] as const)('%s -> 400, the error next to the field names the path, nothing changes', async (_label, over, field, path, message) => {
    const beforeBytes = fileBytes();
    const beforeHash = h.config.current.hash;
    const auditBefore = (await h.env.audit()).length;
    const res = await postForm(`/admin/tools/${TOOL}`, fields(over));
    expect(res.status).toBe(400);
    const html = await res.text();
    const inline = unescape(byId(html, `${field}-error`) ?? '');
    expect(inline).toContain(`<code>${path(toolIndex(TOOL))}</code>: ${message}`);
    // The field is marked invalid and points at its error; what was typed is kept.
    expect(html).toMatch(new RegExp(`id="${field}"[^>]*aria-invalid="true"[^>]*aria-describedby="${field}-error`));
    if (field === 'scopes') expect(html).toContain('value="crm.read crm&quot;write"');
    expect(fileBytes().equals(beforeBytes)).toBe(true);
    expect(h.config.current.hash).toBe(beforeHash);
    expect((await h.env.audit()).length).toBe(auditBefore);
  });

  it('a stale version -> 409 "changed by someone else", with a reload link; nothing changes', async () => {
    const stale = fields({ scopes: 'crm.read crm.write' });
    // Someone else saves first (through the API).
    const etag = (await h.api('GET', `/tools/${TOOL}`)).headers.get('etag')!;
    const other = await h.api('PATCH', `/tools/${TOOL}`, { ifMatch: etag, body: { title: 'Search CRM customers (by name)' } });
    expect(other.status).toBe(200);
    const afterOther = fileHash();
    const res = await postForm(`/admin/tools/${TOOL}`, stale);
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain('This tool was changed by someone else');
    expect(html).toContain(`<a href="/admin/tools/${TOOL}">Reload</a>`);
    expect(fileHash()).toBe(afterOther);
    expect(fileJson().tools[toolIndex(TOOL)].scopes).toEqual(['crm.read']);
  });

  it('a valid edit is written to the file, in force in the running gateway, audited, and used by the next call', async () => {
    const res = await postForm(`/admin/tools/${TOOL}`, fields({ scopes: 'crm.read, crm.write', description: 'Finds CRM customers by name or domain.' }));
    const { flash, html } = await follow(res);
    expect(flash).toBe(`Saved tool "${TOOL}": in force from the next call.`);
    const row = new RegExp(`<tr data-tool="${TOOL}">([\\s\\S]*?)</tr>`).exec(html)![1]!;
    expect(row).toContain('<code>crm.read</code> <code>crm.write</code>');

    const written = fileJson().tools[toolIndex(TOOL)];
    expect(written).toMatchObject({
      scopes: ['crm.read', 'crm.write'],
      description: 'Finds CRM customers by name or domain.',
      title: 'Search CRM customers (by name)',
    });
    expect(written).not.toHaveProperty('enabled'); // a checked box keeps the default, the file stays as written
    expect(h.config.current.hash).toBe(fileHash());
    expect(h.config.current.config.tools.find((t) => t.name === TOOL)).toMatchObject({ scopes: ['crm.read', 'crm.write'] });

    const records = await h.env.audit();
    expect(records.at(-1)).toMatchObject({
      type: 'admin_action',
      action: 'tool.update',
      actor: { kind: 'admin', via: 'session', sub: 'u-alice', email: 'alice@acme.example' },
      target: { tool: TOOL, path: `tools[${toolIndex(TOOL)}]`, file: h.env.configPath },
      before: { scopes: ['crm.read'] },
      after: { scopes: ['crm.read', 'crm.write'] },
    });

    const call = await h.call(await h.token(alice, AGENT_A), TOOL, { query: 'acme' });
    expect(call).toMatchObject({ status: 200, isError: false });
    await h.gateway.flush();
    const decision = (await h.env.audit()).filter((r) => r.tool === TOOL && r.phase === 'decision').at(-1);
    expect(decision).toMatchObject({ decision: 'allow', scopesRequested: ['crm.read', 'crm.write'] });
  });

  it('submitting the form unchanged writes nothing', async () => {
    const before = fileHash();
    const { flash } = await follow(await postForm(`/admin/tools/${TOOL}`, fields()));
    expect(flash!).toBe(`No change to save in tool "${TOOL}".`);
    expect(fileHash()).toBe(before);
  });

  it('the full-JSON form: invalid JSON and an unknown field are shown with their path; a valid replacement is saved', async () => {
    const before = fileHash();
    const bad = await postForm(`/admin/tools/${TOOL}/json`, { version: before, json: '{"name": ' });
    expect(bad.status).toBe(400);
    expect(unescape(await bad.text())).toMatch(/<code>\(json\)<\/code>: not valid JSON: /);

    const t = fileJson().tools[toolIndex(TOOL)];
    const unknown = await postForm(`/admin/tools/${TOOL}/json`, { version: before, json: JSON.stringify({ ...t, colour: 'blue' }) });
    expect(unknown.status).toBe(400);
    const html = unescape(await unknown.text());
    expect(html).toContain(`<code>tools[${toolIndex(TOOL)}]</code>: unknown field(s) "colour"`);
    expect(html).toContain('"colour":"blue"'); // what was typed is kept in the textarea
    expect(fileHash()).toBe(before);

    const { flash } = await follow(await postForm(`/admin/tools/${TOOL}/json`, { version: before, json: JSON.stringify({ ...t, enabled: false }, null, 2) }));
    expect(flash!).toBe(`Saved tool "${TOOL}": in force from the next call.`);
    expect(h.config.current.config.tools.find((x) => x.name === TOOL)?.enabled).toBe(false);
    const res = await postForm(`/admin/tools/${TOOL}`, fields({ enabled: '' }));
    expect((await follow(res)).flash).toContain('No change');
    await follow(await postForm(`/admin/tools/${TOOL}`, fields()));
    expect(h.config.current.config.tools.find((x) => x.name === TOOL)?.enabled).toBe(true);
  });

  it('a hand edit that leaves the file unparsable -> 409 page saying so; the running config is kept', async () => {
    const good = fileBytes();
    const inForce = h.config.current.hash;
    writeFileSync(h.env.configPath, good.toString('utf8').replace(/\}\s*$/, ''));
    try {
      const res = await get('/admin/tools');
      expect(res.status).toBe(409);
      expect(unescape(await res.text())).toContain(`${h.env.configPath} on disk is not valid JSON (a hand edit in progress?); fix the file, then retry`);
      expect(h.config.current.hash).toBe(inForce);
    } finally {
      writeFileSync(h.env.configPath, good);
    }
    expect((await get('/admin/tools')).status).toBe(200);
  });

  it('an unknown tool -> 404 page', async () => {
    const res = await get('/admin/tools/no_such_tool');
    expect(res.status).toBe(404);
    expect(unescape(await res.text())).toContain('No tool named "no_such_tool"');
  });
});

describe('switches, sessions and the audit page', () => {
  it('a connection switch denies the next call of that agent with the reason, and the audit page shows the denial', async () => {
    const token = await h.token(alice, AGENT_A);
    expect(await h.call(token, 'calendar_free_slots', { date: '2026-12-01' })).toMatchObject({ status: 200, isError: false });

    const page = await (await get('/admin/switches')).text();
    // Agent A is known from the audit log; its calendar connection is on.
    const row = /<tr data-agent="agent-a">([\s\S]*?)<\/tr>/.exec(page)![1]!;
    expect(row).toContain('Agent A (test)');
    expect(row).toContain('aria-label="Disable connection agent-a → calendar"');

    const { flash } = await follow(
      await postForm('/admin/switches', { do: 'set connection calendar', clientId: 'agent-a', reason: 'calendar misuse', back: '/admin/switches#connections' }),
    );
    expect(flash!).toBe('Disabled connection "agent-a" -> "calendar": in force from the next call.');

    const denied = await h.call(token, 'calendar_free_slots', { date: '2026-12-01' });
    expect(denied).toMatchObject({ status: 200, isError: true });
    expect(denied.text).toContain('[kill_switch]');
    expect(denied.text).toContain('kill switch connection "agent-a" -> "calendar" is set: calendar misuse');
    await h.gateway.flush();

    const audit = await (await get('/admin/audit?outcome=denied&agent=agent-a')).text();
    const rows = [...audit.matchAll(/<tr data-seq="(\d+)" data-type="([a-z_]+)" data-instance(?:="[^"]*")?>([\s\S]*?)<\/tr>/g)];
    expect(rows.length).toBe(1);
    expect(unescape(rows[0]![3]!)).toContain('kill switch connection "agent-a" -> "calendar" is set: calendar misuse');
    // The chart counts that one denial (and nothing else under this filter).
    const bars = [...audit.matchAll(/<g data-bucket="[^"]+" data-ok="(\d+)" data-error="(\d+)" data-denied="(\d+)">/g)];
    expect(bars.length).toBeGreaterThan(1);
    const sum = (i: number) => bars.reduce((n, b) => n + Number(b[i]), 0);
    expect([sum(1), sum(2), sum(3)]).toEqual([0, 0, 1]);

    const { flash: lifted } = await follow(
      await postForm('/admin/switches', { do: 'lift connection calendar', clientId: 'agent-a', reason: 'sorted', back: '/admin/switches#connections' }),
    );
    expect(lifted!).toBe('Enabled connection "agent-a" -> "calendar" again.');
    expect(await h.call(token, 'calendar_free_slots', { date: '2026-12-01' })).toMatchObject({ status: 200, isError: false });
  });

  it.each([
    ['an unknown resource', { do: 'set resource nope' }, 'Nothing changed: unknown resource "nope"'],
    ['a connection without agent', { do: 'set connection calendar', clientId: '' }, 'Nothing changed: clientId:'],
    ['an unknown action', { do: 'explode' }, 'Unknown action'],
    ['lifting what is not set', { do: 'lift resource calendar' }, 'resource "calendar" was not set.'],
  ] as const)('%s -> flash error, no switch', async (_label, fields, message) => {
    const { flash } = await follow(await postForm('/admin/switches', { ...fields, back: '/admin/switches' }));
    expect(flash!).toContain(message);
    expect(h.control.listSwitches()).toEqual([]);
  });

  it('read-only mode on and off from the console', async () => {
    const on = await follow(await postForm('/admin/switches', { do: 'set all', reason: 'incident 42', back: '/admin/switches#readonly' }));
    // Read-only mode drops every cached downstream token (alice's calendar token, among others).
    expect(on.flash).toMatch(/^Read-only mode is on: every tool call is refused from now on\. [1-9]\d* cached downstream tokens? dropped\.$/);
    expect(on.html).toContain('ON: every tool call is refused');
    expect((await h.call(await h.token(alice), 'calendar_free_slots', { date: '2026-12-01' })).text).toContain(
      'kill switch all (read-only mode) is set: incident 42',
    );
    const off = await follow(await postForm('/admin/switches', { do: 'lift all', reason: 'over', back: '/admin/switches#readonly' }));
    expect(off.flash).toBe('Read-only mode is off: calls go through again.');
  });

  it('sessions: a signed-in user with an agent grant is listed; revoking signs the session out', async () => {
    const bob = await h.signIn('bob');
    const now = Date.now();
    await h.store.saveRefreshToken({
      tokenHash: randomBytes(32).toString('hex'),
      familyId: 'fam-console',
      sessionId: bob.id,
      clientId: AGENT_A.clientId,
      scopes: ['mcp:tools'],
      resource: h.mcpUrl,
      createdAt: now,
      expiresAt: now + 3_600_000,
    });
    const page = await (await get('/admin/sessions')).text();
    const row = new RegExp(`<tr data-session="${bob.id}">([\\s\\S]*?)</tr>`).exec(page)![1]!;
    expect(row).toContain('bob@acme.example');
    expect(row).toContain('Agent A (test)');
    expect(row).toContain('scopes mcp:tools');

    const { flash, html } = await follow(await postForm(`/admin/sessions/${bob.id}/revoke`, { reason: 'lost laptop' }));
    expect(flash!).toBe('Signed out bob@acme.example. 1 session signed out, 1 refresh token revoked.');
    expect(html).not.toContain(`data-session="${bob.id}"`);
    expect((await h.store.getUserSession(bob.id))?.revokedAt).toBeDefined();
    const record = (await h.env.audit()).filter((r) => r.action === 'session.revoke').at(-1);
    expect(record).toMatchObject({ reason: 'lost laptop', target: { sessionId: bob.id }, actor: { email: 'alice@acme.example' } });

    const again = await follow(await postForm(`/admin/sessions/${bob.id}/revoke`, {}));
    expect(again.flash).toBe('That session is no longer active (signed out or revoked already).');
  });

  it('audit: filters by tool and time, pages newest first, and verifies the chain', async () => {
    const all = await (await get('/admin/audit?range=all')).text();
    const seqs = [...all.matchAll(/<tr data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    expect(seqs.length).toBeGreaterThan(10);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs); // newest first

    const tool = await (await get('/admin/audit?tool=calendar_free_slots&range=1h')).text();
    const events = [
      ...tool.matchAll(
        /<tr data-seq="\d+" data-type="([a-z_]+)" data-instance(?:="[^"]*")?>[\s\S]*?<code>([^<]*)<\/code><div class="muted" title="([^"]*)">([^<]*)<\/div>/g,
      ),
    ].map((m) => [m[1], m[2], m[3], m[4]]);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e).toEqual(['tool_call', 'calendar_free_slots', h.config.current.config.resources.calendar!.resource, 'calendar']);

    const future = await (await get('/admin/audit?range=all&from=2099-01-01T00:00')).text();
    expect(future).toContain('No record matches.');
    const bad = await get('/admin/audit?from=yesterday&outcome=maybe');
    expect(bad.status).toBe(200);
    const badHtml = unescape(await bad.text());
    expect(badHtml).toContain('from: "yesterday" is not a date and time (YYYY-MM-DDTHH:MM, UTC)');
    expect(badHtml).toContain('outcome: outcome is one of ok, error, denied');

    await h.gateway.flush();
    const { flash, html } = await follow(await postForm('/admin/audit/verify', {}));
    expect(flash).toMatch(/^Audit chain OK: \d+ records verified\.$/);
    expect(html).toMatch(/<div class="verify ok" role="status" data-verify="ok"><strong>Chain OK:<\/strong> \d+ records in 1 file verified/);
  });

  it('audit: more than one page of records -> Older/Newer links keep the filters', async () => {
    const token = await h.token(alice);
    while ((await h.env.audit()).length <= 60) {
      await h.call(token, 'expenses_pending_approvals', {});
      await h.gateway.flush();
    }
    const first = await (await get('/admin/audit?range=all')).text();
    expect(first).toContain('<a href="/admin/audit?range=all&amp;page=2">Older →</a>');
    const second = await (await get('/admin/audit?range=all&page=2')).text();
    expect(second).toContain('<a href="/admin/audit?range=all">← Newer</a>');
    const firstSeqs = [...first.matchAll(/<tr data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    const secondSeqs = [...second.matchAll(/<tr data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    expect(firstSeqs).toHaveLength(50);
    expect(secondSeqs[0]).toBe(firstSeqs.at(-1)! - 1);
  });
});

describe('signing out', () => {
  it('the Sign out form ends the session and lands on a "You are signed out" page, not on the IdP', async () => {
    const own = (await h.browserSignIn('alice')).cookie!;
    const ownCsrf: string = (await (await h.api('GET', '/whoami', { token: null, headers: { Cookie: own } })).json()).csrfToken;
    const tools = await (await get('/admin/tools', { Cookie: own })).text();
    expect(tools).toContain(
      `<form method="post" action="/admin/logout"><input type="hidden" name="_csrf" value="${ownCsrf}"/><button type="submit">Sign out</button></form>`,
    );

    const out = await postForm('/admin/logout', {}, { cookie: own, csrf: ownCsrf });
    expect([out.status, out.headers.get('location'), out.headers.get('cache-control')]).toEqual([303, '/admin/signed-out', 'no-store']);
    expect(out.headers.getSetCookie().some((c) => c.startsWith('xaa-admin=;') && c.includes('Max-Age=0'))).toBe(true);
    expect((await h.env.audit()).filter((r) => r.action === 'admin.sign_out').at(-1)).toMatchObject({
      type: 'admin_action',
      actor: { kind: 'admin', via: 'session', sub: 'u-alice' },
    });

    // The landing page: the console's look and CSP, no script, no navigation, one way back in.
    const page = await get('/admin/signed-out', {});
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(CONSOLE_CSP);
    expect([page.headers.get('x-frame-options'), page.headers.get('cache-control')]).toEqual(['DENY', 'no-store']);
    const html = await page.text();
    expect(html).toMatch(/^<!doctype html><html lang="en">/);
    expect(html).toContain('<title>Signed out · xaa-gateway admin</title>');
    expect(html).toContain('<h1>You are signed out</h1>');
    expect(html).toContain('<a class="button primary" href="/admin/login">Sign in again</a>');
    for (const absent of ['<script', '<nav', 'Signed in as', '<form']) expect(html).not.toContain(absent);

    // The old cookie no longer opens the console; "Sign in again" starts a new IdP sign-in.
    const after = await get('/admin/tools', { Cookie: own });
    expect([after.status, after.headers.get('location')]).toEqual([302, '/admin/login?return_to=%2Fadmin%2Ftools']);
    const again = await fetch(`${h.origin}/admin/login`, { redirect: 'manual' });
    expect(again.status).toBe(302);
    expect(new URL(again.headers.get('location')!).origin).toBe(new URL(h.config.current.config.idp.issuer).origin);
  });
});
