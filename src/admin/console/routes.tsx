import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Child } from 'hono/jsx';
import { FileAuditSource } from '../../audit/source.js';
import { verifyAuditDir } from '../../audit/verify.js';
import { describeSwitch, KillSwitchSchema, switchKey } from '../../control/switches.js';
import type { KillSwitch, RevocationSummary } from '../../domain/control.js';
import { isGatewayError, toGatewayError } from '../../errors.js';
import type { AdminAuth } from '../auth.js';
import { getItem, itemPath, listItems, mergePatch } from '../collections.js';
import type { ConfigEditor } from '../config-editor.js';
import { adminCsrfToken, getAdminActor, HTTP_STATUS, type AdminEnv, type AdminOptions } from '../context.js';
import { AuditBody, type VerifyState } from './audit.js';
import { loadAuditView, parseAuditQuery, type AuditView } from './audit-view.js';
import { knownAgents, knownUsers, recentAudit } from './directory.js';
import { issuesByField, updateConfigItem } from './edit.js';
import { redirectWithFlash, takeFlash, type Flash } from './flash.js';
import { actorLabel, splitScopes } from './format.js';
import { consoleHeaders, ErrorBody, Layout, renderHtml, SignedOutBody, type Section } from './layout.js';
import { SessionsBody } from './sessions.js';
import { SwitchesBody, type TargetRow } from './switches.js';
import { ToolEditBody, toolForm, ToolsBody, type ToolEditView, type ToolForm } from './tools.js';

/**
 * The admin console: server-rendered pages under /admin for members of the admin group (or an
 * admin token). It is a face on the same services as /admin/api: ConfigEditor for config edits
 * (same lock, version check, validation, audit record and atomic write), ControlService for kill
 * switches and sessions, src/audit for the log and its chain check. Every form is a POST with the
 * session's CSRF token (checked by requireAdmin) answered by a 303 to a page that shows the outcome
 * (Post/Redirect/Get); only a refused config edit is answered with the form and its errors.
 */
export function createConsole(opts: AdminOptions, auth: AdminAuth, editor: ConfigEditor): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  const requireAdmin = auth.requireAdmin({ redirectToLogin: true });
  let lastVerify: VerifyState | undefined;
  // The fleet's table with the PostgreSQL sink; else this host's directory (read where the config says now).
  const auditSource = () => opts.auditSource ?? new FileAuditSource(opts.config.current.auditDir);

  const headers = () => consoleHeaders(new URL(opts.config.current.config.idp.issuer).origin);

  /** requireAdmin, with its JSON refusals turned into pages a person can read. */
  const guard: MiddlewareHandler<AdminEnv> = async (c, next) => {
    const res = await requireAdmin(c, next);
    if (!(res instanceof Response) || res.status < 400) return res;
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    const signIn = res.status === 401;
    const title = signIn ? 'Sign-in required' : 'Not allowed';
    const extra: Record<string, string> = {};
    const challenge = res.headers.get('www-authenticate');
    if (challenge) extra['WWW-Authenticate'] = challenge;
    return renderHtml(
      res.status,
      <Layout title={title}>
        <ErrorBody status={res.status} title={title} message={body.message ?? 'Admin access is required.'} signIn={signIn} />
      </Layout>,
      headers(),
      extra,
    );
  };

  const who = (c: Context<AdminEnv>) => {
    const a = getAdminActor(c);
    return a.via === 'token' ? 'admin token' : (a.email ?? a.sub ?? 'admin');
  };

  /** The session's CSRF token for the page's forms; none for an admin token (no cookie, no CSRF). */
  const csrfOf = (c: Context<AdminEnv>): { csrf?: string } => {
    const csrf = adminCsrfToken(c);
    return csrf ? { csrf } : {};
  };

  async function page(c: Context<AdminEnv>, status: number, title: string, section: Section, body: Child, flashOverride?: Flash): Promise<Response> {
    const { flash, clear } = takeFlash(c, opts.config);
    const shown = flashOverride ?? flash;
    const res = await renderHtml(
      status,
      <Layout title={title} section={section} frame={{ who: who(c), ...csrfOf(c), ...(shown ? { flash: shown } : {}) }}>
        {body}
      </Layout>,
      headers(),
    );
    if (clear) res.headers.append('Set-Cookie', clear);
    return res;
  }

  const notFoundPage = (c: Context<AdminEnv>, message: string) =>
    page(c, 404, 'Not found', 'tools', <ErrorBody status={404} title="Not found" message={message} />);

  async function formOf(c: Context): Promise<Record<string, string>> {
    const body = await c.req.parseBody();
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
    return out;
  }

  const redirect = (to: string, flash: Flash) => redirectWithFlash(opts.config, to, flash);

  // ---- tools ----

  app.get('/', guard, () => new Response(null, { status: 302, headers: { Location: '/admin/tools', 'Cache-Control': 'no-store' } }));

  // Where POST /admin/logout sends a browser (ADMIN_SIGNED_OUT_PATH): a page, not a hop to the IdP's login.
  app.get('/signed-out', () =>
    renderHtml(
      200,
      <Layout title="Signed out">
        <SignedOutBody />
      </Layout>,
      headers(),
    ),
  );

  app.get('/tools', guard, async (c) => {
    const { raw, version, revision } = await editor.read();
    const fleet = opts.config.current.fleet;
    const switchedOff = new Set(opts.control.listSwitches().flatMap((s) => (s.switch.kind === 'resource' ? [s.switch.name] : [])));
    return page(
      c,
      200,
      'Tools',
      'tools',
      <ToolsBody
        v={{
          tools: listItems(raw, 'tools'),
          resources: listItems(raw, 'resources'),
          upstreams: listItems(raw, 'upstreams'),
          switchedOff,
          path: editor.path,
          pendingOnDisk: !editor.inForce(version),
          ...(editor.source === 'store' && fleet && revision !== undefined ? { fleet: { where: fleet.where, revision, revisionInForce: fleet.revision } } : {}),
        }}
      />,
    );
  });

  async function editPage(c: Context<AdminEnv>, name: string, status: number, over: Partial<ToolEditView> = {}): Promise<Response> {
    const { raw, version, revision } = await editor.read();
    const tool = getItem(raw, 'tools', name);
    if (!tool) return notFoundPage(c, `No tool named "${name}" in the config file (it may have been renamed or deleted).`);
    const v: ToolEditView = {
      name,
      path: itemPath(raw, 'tools', name),
      version,
      ...(revision !== undefined ? { revision } : {}),
      form: toolForm(tool),
      json: JSON.stringify(tool, null, 2),
      resourceNames: listItems(raw, 'resources').map((r) => String(r.name)),
      ...csrfOf(c),
      ...over,
    };
    return page(c, status, `Edit ${name}`, 'tools', <ToolEditBody v={v} />);
  }

  app.get('/tools/:name', guard, (c) => editPage(c, c.req.param('name'), 200));

  /**
   * Saves one tool through updateConfigItem (`replace`: the whole tool; `patch`: a merge patch of
   * it); a refusal re-renders the form with what was typed.
   */
  async function saveTool(
    c: Context<AdminEnv>,
    submitted: 'fields' | 'json',
    f: Record<string, string>,
    change: { op: 'replace' | 'patch'; body: unknown },
    typed: Partial<ToolEditView>,
  ) {
    const name = c.req.param('name')!;
    const version = f.version ?? '';
    if (!/^[0-9a-f]{64}$/.test(version))
      return editPage(c, name, 400, {
        ...typed,
        submitted,
        issues: new Map([['', [{ path: '(form)', message: 'the form has no config version; reload the page and try again' }]]]),
      });
    const conflict = (message: string) => editPage(c, name, 409, { ...typed, submitted, version, conflict: message });
    const current = await editor.read();
    // A stale form is a conflict whatever it holds (the editor checks again under its lock).
    if (current.version !== version) return conflict('the config changed since the form was opened');
    // Nothing to write when the form equals the file (no empty audit record, no reload).
    const before = getItem(current.raw, 'tools', name);
    if (before && JSON.stringify(change.op === 'patch' ? mergePatch(before, change.body) : change.body) === JSON.stringify(before)) {
      return redirect(`/admin/tools/${encodeURIComponent(name)}`, { kind: 'warn', text: `No change to save in tool "${name}".` });
    }
    const r = await updateConfigItem(opts, editor, getAdminActor(c), 'tools', name, version, change);
    if (r.ok) {
      const inForce = editor.inForce(r.version);
      const where = r.revision !== undefined ? ` on every instance (shared store, revision ${r.revision})` : '';
      return redirect('/admin/tools', {
        kind: inForce ? 'ok' : 'warn',
        text: inForce
          ? `Saved tool "${name}": in force from the next call${where}.`
          : r.revision !== undefined
            ? `Saved tool "${name}" as revision ${r.revision} of the shared store, but it is not in force on this instance: see its log.`
            : `Saved tool "${name}", but the file changed again right after; what is on disk will be in force.`,
      });
    }
    if (r.kind === 'not_found') return notFoundPage(c, r.message);
    if (r.kind === 'conflict') return conflict(r.message);
    return editPage(c, name, 400, { ...typed, submitted, version, issues: issuesByField(r.issues, itemPath(current.raw, 'tools', name)) });
  }

  app.post('/tools/:name', guard, async (c) => {
    const f = await formOf(c);
    const form: ToolForm = {
      resource: f.resource ?? '',
      scopes: f.scopes ?? '',
      title: (f.title ?? '').trim(),
      description: (f.description ?? '').replace(/\r\n?/g, '\n').trim(),
      enabled: f.enabled === 'on',
    };
    // A JSON Merge Patch (RFC 7396) of the fields this form owns; null removes a member, so an
    // unchecked "enabled" is written as false and a checked one falls back to the default (true).
    const patch = {
      resource: form.resource,
      scopes: splitScopes(form.scopes),
      title: form.title || null,
      description: form.description,
      enabled: form.enabled ? null : false,
    };
    return saveTool(c, 'fields', f, { op: 'patch', body: patch }, { form });
  });

  app.post('/tools/:name/json', guard, async (c) => {
    const f = await formOf(c);
    const text = f.json ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return editPage(c, c.req.param('name'), 400, {
        json: text,
        submitted: 'json',
        ...(f.version ? { version: f.version } : {}),
        issues: new Map([['', [{ path: '(json)', message: `not valid JSON: ${(e as Error).message}` }]]]),
      });
    }
    return saveTool(c, 'json', f, { op: 'replace', body: parsed }, { json: text });
  });

  // ---- switches ----

  const targets = (): TargetRow[] => {
    const { config } = opts.config.current;
    return [
      ...Object.entries(config.resources).map(([name, r]) => ({ name, kind: 'resource' as const, endpoint: r.resource, enabled: r.enabled })),
      ...config.upstreams.map((u) => ({ name: u.name, kind: 'upstream' as const, endpoint: u.url, enabled: u.enabled })),
    ];
  };

  app.get('/switches', guard, async (c) => {
    const [sessions, recent] = await Promise.all([opts.control.listSessions(), recentAudit(auditSource())]);
    const switches = opts.control.listSwitches();
    return page(
      c,
      200,
      'Switches',
      'switches',
      <SwitchesBody
        v={{
          now: opts.deps.now(),
          switches,
          targets: targets(),
          agents: await knownAgents(opts, sessions, switches, recent),
          users: knownUsers(sessions, switches, recent),
          idpIssuer: opts.config.current.config.idp.issuer,
          ...csrfOf(c),
        }}
      />,
    );
  });

  app.post('/switches', guard, async (c) => {
    const f = await formOf(c);
    const back = f.back ?? '/admin/switches';
    const [op, kind, arg] = (f.do ?? '').trim().split(/\s+/);
    if (op !== 'set' && op !== 'lift') return redirect(back, { kind: 'error', text: 'Unknown action: use the buttons of the switches page.' });
    let s: KillSwitch | undefined;
    if (op === 'lift' && kind === 'key') {
      s = opts.control.listSwitches().find((x) => switchKey(x.switch) === f.key)?.switch;
      if (!s) return redirect(back, { kind: 'warn', text: 'That switch is no longer set (someone lifted it already).' });
    } else {
      const candidate =
        kind === 'user'
          ? { kind, user: { iss: f.iss || opts.config.current.config.idp.issuer, sub: (f.sub ?? '').trim() } }
          : kind === 'agent'
            ? { kind, clientId: (f.clientId ?? '').trim() }
            : kind === 'resource'
              ? { kind, name: arg ?? f.name ?? '' }
              : kind === 'connection'
                ? { kind, clientId: (f.clientId ?? '').trim(), resource: arg ?? f.resource ?? '' }
                : { kind };
      const parsed = KillSwitchSchema.safeParse(candidate);
      if (!parsed.success) {
        const what = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'kind'}: ${i.message}`).join('; ');
        return redirect(back, { kind: 'error', text: `Nothing changed: ${what}.` });
      }
      s = parsed.data;
    }
    const label = describeSwitch(s);
    const actor = getAdminActor(c);
    const reason = (f.reason ?? '').trim().slice(0, 1000);
    if (op === 'set') {
      const unknown = unknownTarget(s);
      if (unknown) return redirect(back, { kind: 'error', text: unknown });
      const r = await opts.control.setSwitch(s, reason || `set in the admin console by ${actorLabel(actor)}`, actor);
      const head = s.kind === 'all' ? 'Read-only mode is on: every tool call is refused from now on.' : `Disabled ${label}: in force from the next call.`;
      return redirect(back, { kind: 'ok', text: `${head}${revokedText(r.revoked)}` });
    }
    try {
      const lifted = await opts.control.liftSwitch(s, reason || `lifted in the admin console by ${actorLabel(actor)}`, actor);
      if (!lifted) return redirect(back, { kind: 'warn', text: `${label} was not set.` });
    } catch (e) {
      if (isGatewayError(e, 'audit_unavailable')) return redirect(back, { kind: 'error', text: e.message });
      throw e;
    }
    return redirect(back, { kind: 'ok', text: s.kind === 'all' ? 'Read-only mode is off: calls go through again.' : `Enabled ${label} again.` });
  });

  /** Setting a switch on a name the config does not know would silently stop nothing. */
  function unknownTarget(s: KillSwitch): string | undefined {
    const name = s.kind === 'resource' ? s.name : s.kind === 'connection' ? s.resource : undefined;
    if (name === undefined) return undefined;
    const known = targets().map((t) => t.name);
    return known.includes(name) ? undefined : `Nothing changed: unknown resource "${name}" (known: ${known.join(', ') || 'none'}).`;
  }

  // ---- sessions ----

  app.get('/sessions', guard, async (c) => {
    return page(c, 200, 'Sessions', 'sessions', <SessionsBody sessions={await opts.control.listSessions()} now={opts.deps.now()} {...csrfOf(c)} />);
  });

  app.post('/sessions/:id/revoke', guard, async (c) => {
    const f = await formOf(c);
    const actor = getAdminActor(c);
    const reason = (f.reason ?? '').trim().slice(0, 1000) || `revoked in the admin console by ${actorLabel(actor)}`;
    const r = await opts.control.revokeSession(c.req.param('id'), reason, actor);
    if (!r) return redirect('/admin/sessions', { kind: 'warn', text: 'That session is no longer active (signed out or revoked already).' });
    const user = r.session.user.email ?? r.session.user.sub;
    return redirect('/admin/sessions', { kind: 'ok', text: `Signed out ${user}.${revokedText(r.revoked)}` });
  });

  // ---- audit ----

  app.get('/audit', guard, async (c) => {
    const { query, problems } = parseAuditQuery(new URL(c.req.url).searchParams);
    const source = auditSource();
    let view: AuditView | undefined;
    let error: string | undefined;
    try {
      view = await loadAuditView(source, query, opts.deps.now());
    } catch (e) {
      error = `The audit log cannot be read: ${toGatewayError(e).message}`;
    }
    return page(
      c,
      200,
      'Audit',
      'audit',
      <AuditBody
        v={{
          query,
          problems,
          ...(view ? { view } : {}),
          ...(error ? { error } : {}),
          ...(lastVerify ? { verify: lastVerify } : {}),
          tools: opts.config.current.config.tools.map((t) => t.name),
          resourceNames: Object.fromEntries(targets().map((t) => [t.endpoint, t.name])),
          auditDir: source.where,
          ...csrfOf(c),
        }}
      />,
    );
  });

  app.post('/audit/verify', guard, async () => {
    const at = opts.deps.now();
    try {
      const result = await verifyAuditDir(auditSource());
      lastVerify = { at, result };
      const chains = result.chains.length + (result.ok ? 0 : 1);
      const flash: Flash = result.ok
        ? { kind: 'ok', text: `Audit chain OK: ${result.count} records verified${chains > 1 ? ` in ${chains} instances' chains` : ''}.` }
        : {
            kind: 'error',
            text: `Audit chain broken${result.broken.instance ? ` in the chain of ${result.broken.instance}` : ''} at ${result.broken.file} ${result.broken.file === 'audit_records' ? 'seq' : 'line'} ${result.broken.line}: ${result.broken.reason}.`,
          };
      return redirect('/admin/audit', flash);
    } catch (e) {
      lastVerify = { at, error: toGatewayError(e).message };
      return redirect('/admin/audit', { kind: 'error', text: `The audit chain could not be verified: ${lastVerify.error}` });
    }
  });

  app.onError(async (e, c) => {
    const err = toGatewayError(e);
    opts.logger.error('admin console request failed', { path: c.req.path, method: c.req.method, code: err.code, error: err.message });
    // Known refusals (e.g. mcp.config.json on disk is not valid JSON: 409) say what is wrong; anything else stays in the log.
    const known = HTTP_STATUS[err.code];
    const status = known ?? 500;
    const title = status === 503 ? 'Service unavailable' : known ? 'The request could not be completed' : 'Something went wrong';
    const message = known ? err.message : 'The request failed; see the gateway log for details.';
    return renderHtml(
      status,
      <Layout title={title}>
        <ErrorBody status={status} title={title} message={message} />
      </Layout>,
      headers(),
    );
  });

  return app;
}

function revokedText(r: RevocationSummary): string {
  const parts: string[] = [];
  if (r.sessions) parts.push(`${r.sessions} session${r.sessions === 1 ? '' : 's'} signed out`);
  if (r.refreshTokens) parts.push(`${r.refreshTokens} refresh token${r.refreshTokens === 1 ? '' : 's'} revoked`);
  if (r.downstreamTokens) parts.push(`${r.downstreamTokens} cached downstream token${r.downstreamTokens === 1 ? '' : 's'} dropped`);
  return parts.length ? ` ${parts.join(', ')}.` : '';
}
