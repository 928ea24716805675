import { Hono } from 'hono';
import { toGatewayError } from '../../errors.js';
import type { AdminAuth } from '../auth.js';
import type { ConfigEditor } from '../config-editor.js';
import { HTTP_STATUS, type AdminEnv, type AdminOptions } from '../context.js';
import { ErrorBody, Layout, renderHtml, SignedOutBody } from './layout.js';
import { auditRoutes } from './routes/audit.js';
import { consoleKit } from './routes/kit.js';
import { sessionRoutes } from './routes/sessions.js';
import { switchRoutes } from './routes/switches.js';
import { toolRoutes } from './routes/tools.js';

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
  const kit = consoleKit(opts, auth);
  const { guard, headers } = kit;

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

  toolRoutes(app, kit, editor);
  switchRoutes(app, kit);
  sessionRoutes(app, kit);
  auditRoutes(app, kit);

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
