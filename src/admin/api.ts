import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { describeSwitch, KillSwitchSchema, switchKey } from '../control/switches.js';
import type { KillSwitch, SwitchState } from '../domain/control.js';
import { recordAdminAction } from '../control/service.js';
import { GatewayError } from '../errors.js';
import type { AdminAuth } from './auth.js';
import { getItem, listItems, notFound, type CollectionName } from './collections.js';
import { applyConfigChange, type ConfigOperation } from './config-service.js';
import { etagOf, parseIfMatch, type ConfigEditor } from './config-editor.js';
import { adminCsrfToken, getAdminActor, type AdminEnv, type AdminOptions } from './context.js';

const Reason = z.strictObject({ reason: z.string().trim().min(1).max(1000).optional() }).optional();

/**
 * /admin/api: JSON over HTTP for automation, the CLI and the console. Every response carries the
 * config file's version as ETag (SHA-256 of its bytes); config writes need it in If-Match.
 */
export function createAdminApi(opts: AdminOptions, auth: AdminAuth, editor: ConfigEditor): Hono<AdminEnv> {
  const api = new Hono<AdminEnv>();
  api.use('*', auth.requireAdmin());
  api.use('*', async (c, next) => {
    await next();
    if (!c.res.headers.has('ETag')) {
      const version = await editor.version();
      if (version) c.res.headers.set('ETag', etagOf(version));
    }
    // Where tools, resources and upstreams are kept: "file" (mcp.config.json) or "store" (shared by a fleet).
    c.res.headers.set('X-Config-Source', editor.source);
    const revision = opts.config.current.fleet?.revision;
    if (editor.source === 'store' && revision !== undefined && !c.res.headers.has('X-Config-Revision'))
      c.res.headers.set('X-Config-Revision', String(revision));
    c.res.headers.set('Cache-Control', 'no-store');
  });

  /** Who is calling, and the CSRF token a browser session must echo on unsafe requests. */
  api.get('/whoami', (c) => c.json({ actor: getAdminActor(c), ...(adminCsrfToken(c) ? { csrfToken: adminCsrfToken(c) } : {}) }));

  api.get('/config', async (c) => {
    const { raw, version, revision } = await editor.read();
    const fleet = opts.config.current.fleet;
    return c.json(
      {
        source: editor.source,
        path: editor.path,
        ...(editor.source === 'store' && fleet
          ? { store: fleet.where, revision, revisionInForce: fleet.revision, updatedAt: fleet.updatedAt, updatedBy: fleet.updatedBy }
          : {}),
        version,
        inForce: editor.inForce(version),
        config: raw,
      },
      200,
      { ETag: etagOf(version), ...(revision !== undefined ? { 'X-Config-Revision': String(revision) } : {}) },
    );
  });

  // ---- tools, resources, upstreams ----

  for (const kind of ['tools', 'resources', 'upstreams'] as const) {
    api.get(`/${kind}`, async (c) => {
      const { raw, version } = await editor.read();
      return c.json({ [kind]: listItems(raw, kind) }, 200, { ETag: etagOf(version) });
    });
    api.get(`/${kind}/:name`, async (c) => {
      const { raw, version } = await editor.read();
      const item = getItem(raw, kind, c.req.param('name'));
      if (!item) throw notFound(kind, c.req.param('name'));
      return c.json(item, 200, { ETag: etagOf(version) });
    });
    api.post(`/${kind}`, async (c) => write(c, kind, 'create', undefined, await jsonBody(c)));
    api.put(`/${kind}/:name`, async (c) => write(c, kind, 'replace', c.req.param('name'), await jsonBody(c)));
    api.patch(`/${kind}/:name`, async (c) => write(c, kind, 'patch', c.req.param('name'), await jsonBody(c)));
    api.delete(`/${kind}/:name`, async (c) => write(c, kind, 'delete', c.req.param('name'), undefined));
  }

  /** One config change: If-Match, then applyConfigChange (lock, validation, audit, atomic write, reload). */
  async function write(c: Context<AdminEnv>, kind: CollectionName, op: ConfigOperation, name: string | undefined, body: unknown) {
    const expected = parseIfMatch(c.req.header('if-match'));
    if (expected === undefined) {
      return c.json(
        {
          error: 'admin_invalid',
          message: `If-Match is required: send the ETag of your last read of /admin/api/${kind} so that a concurrent edit is not overwritten`,
        },
        428,
      );
    }
    if (expected === '*') {
      return c.json({ error: 'admin_invalid', message: 'If-Match: * is not accepted; send the ETag of the version you edited' }, 428);
    }
    const r = await applyConfigChange(
      { editor, audit: opts.audit },
      { actor: getAdminActor(c), kind, op, ...(name !== undefined ? { name } : {}), body, version: expected },
    );
    const out = op === 'delete' ? { deleted: r.before } : r.item;
    return c.json(out as Record<string, unknown>, op === 'create' ? 201 : 200, {
      ETag: etagOf(r.version),
      ...(r.revision !== undefined ? { 'X-Config-Revision': String(r.revision) } : {}),
    });
  }

  // ---- kill switches ----

  api.get('/switches', (c) => c.json({ switches: opts.control.listSwitches().map(view) }));

  const setOrLift = (method: 'put' | 'delete', path: string, build: (c: Context<AdminEnv>) => KillSwitch) => {
    api[method](path, async (c) => {
      const s = parseSwitch(build(c));
      const body = Reason.safeParse(await optionalJson(c));
      if (!body.success) throw invalidBody(body.error);
      const actor = getAdminActor(c);
      if (method === 'put') {
        if (s.kind === 'resource') checkTargetName(opts, s.name, 'name');
        if (s.kind === 'connection') checkTargetName(opts, s.resource, 'resource');
        const r = await opts.control.setSwitch(s, body.data?.reason ?? 'set by an admin', actor);
        return c.json({ switch: view(r.state), previous: r.previous ? view(r.previous) : null, revoked: r.revoked }, r.previous ? 200 : 201);
      }
      const lifted = await opts.control.liftSwitch(s, body.data?.reason ?? 'lifted by an admin', actor);
      if (!lifted) throw new GatewayError('admin_not_found', `kill switch ${describeSwitch(s)} is not set`);
      return c.json({ lifted: view(lifted) });
    });
  };
  for (const method of ['put', 'delete'] as const) {
    const p = (c: Context<AdminEnv>, name: string) => c.req.param(name) ?? '';
    setOrLift(method, '/switches/user/:sub', (c) => ({
      kind: 'user',
      user: { iss: c.req.query('iss') ?? opts.config.current.config.idp.issuer, sub: p(c, 'sub') },
    }));
    setOrLift(method, '/switches/agent/:clientId', (c) => ({ kind: 'agent', clientId: p(c, 'clientId') }));
    setOrLift(method, '/switches/resource/:name', (c) => ({ kind: 'resource', name: p(c, 'name') }));
    setOrLift(method, '/switches/connection/:clientId/:resource', (c) => ({ kind: 'connection', clientId: p(c, 'clientId'), resource: p(c, 'resource') }));
    setOrLift(method, '/switches/all', () => ({ kind: 'all' }));
  }

  // ---- sessions ----

  api.get('/sessions', async (c) => c.json({ sessions: await opts.control.listSessions() }));
  api.delete('/sessions/:id', async (c) => {
    const body = Reason.safeParse(await optionalJson(c));
    if (!body.success) throw invalidBody(body.error);
    const r = await opts.control.revokeSession(c.req.param('id'), body.data?.reason ?? 'revoked by an admin', getAdminActor(c));
    if (!r) throw new GatewayError('admin_not_found', `no active session "${c.req.param('id')}"; list them with GET /admin/api/sessions`);
    return c.json(r);
  });

  // ---- signing keys of the gateway's access tokens ----

  const tokens = () => {
    if (!opts.tokens)
      throw new GatewayError(
        'admin_not_found',
        "this admin API was started without the gateway's token service: signing keys are managed by `xaa-gateway serve`",
      );
    return opts.tokens;
  };
  api.get('/keys', async (c) => c.json({ keys: await tokens().keys() }));
  api.post('/keys/rotate', async (c) => {
    const body = Reason.safeParse(await optionalJson(c));
    if (!body.success) throw invalidBody(body.error);
    const r = await tokens().rotate();
    // Made first, then recorded (a record that fails is logged): a rotation gives nobody access (tokens
    // of the old key keep verifying until they expire) and may be the answer to a leaked key.
    await recordAdminAction(
      opts.audit,
      {
        actor: getAdminActor(c),
        action: 'keys.rotate',
        target: { kid: r.kid },
        before: { signing: r.previous ?? null },
        after: { signing: r.kid, retired: r.retired, verifyUntil: r.verifyUntil },
        reason: body.data?.reason ?? 'rotated by an admin',
      },
      opts.logger,
    );
    return c.json({ kid: r.kid, previous: r.previous ?? null, verifyUntil: r.verifyUntil, keys: await tokens().keys() });
  });

  return api;
}

/** A switch state as the API shows it: with its key and a readable label. */
export function view(s: SwitchState) {
  return { ...s, key: switchKey(s.switch), label: describeSwitch(s.switch) };
}

function parseSwitch(s: KillSwitch): KillSwitch {
  const r = KillSwitchSchema.safeParse(s);
  if (!r.success) throw invalidBody(r.error);
  return r.data;
}

function checkTargetName(opts: AdminOptions, name: string, field: string): void {
  const { config } = opts.config.current;
  const known = [...Object.keys(config.resources), ...config.upstreams.map((u) => u.name)];
  if (!known.includes(name)) {
    const message = `unknown resource "${name}": name a key of "resources" or an upstream (known: ${known.join(', ') || 'none'})`;
    throw new GatewayError('admin_invalid', message, { details: { issues: [{ path: field, message }] } });
  }
}

async function jsonBody(c: Context): Promise<unknown> {
  return parseBody(await c.req.text());
}

/** A body that may be left out (a reason is optional). */
async function optionalJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  return text.trim() ? parseBody(text) : undefined;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError('admin_invalid', 'the request body is not valid JSON', { details: { issues: [{ path: '(body)', message: 'not valid JSON' }] } });
  }
}

function invalidBody(error: z.ZodError): GatewayError {
  const issues = error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(body)', message: i.message }));
  return new GatewayError('admin_invalid', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { details: { issues } });
}
