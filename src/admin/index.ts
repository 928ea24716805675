import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { payloadTooLarge, toGatewayError } from '../errors.js';
import { createAdminApi } from './api.js';
import { createAdminAuth, type AdminAuth } from './auth.js';
import { ConfigEditor } from './config-editor.js';
import { adminError, HTTP_STATUS, serverOf, type AdminEnv, type AdminOptions } from './context.js';
import { mountAdminLogin } from './login.js';
import { createConsole } from './console/routes.js';

export { ConfigEditor, validateConfig, atomicWrite, etagOf, parseIfMatch, type ConfigIssue, type ConfigVersion, type RawConfig } from './config-editor.js';
export { getAdminActor, adminCsrfToken, adminError, type AdminEnv, type AdminOptions, type AdminVariables } from './context.js';
export { ADMIN_SESSION_COOKIE, CSRF_FIELD, CSRF_HEADER, type AdminAuth, type RequireAdminOptions } from './auth.js';
export { ADMIN_LOGIN_PATH, ADMIN_CALLBACK_PATH, ADMIN_LOGOUT_PATH } from './login.js';
export { listItems, getItem, putItem, deleteItem, mergePatch, type CollectionName } from './collections.js';
export { applyConfigChange, type ConfigChange, type ConfigChangeResult, type ConfigOperation } from './config-service.js';
export { view as switchView } from './api.js';

export interface AdminRouter {
  /** Mount at `/admin` (createHttpApp's `admin` option): /admin/login, /callback, /logout and /admin/api/*. */
  app: Hono<AdminEnv>;
  /** `auth.requireAdmin()` guards further admin routes (the console). */
  auth: AdminAuth;
  editor: ConfigEditor;
}

/**
 * The admin surface of the remote gateway. Fails at creation when an admin token in
 * `admin.tokens` cannot be read or is too short, so a misconfigured gateway does not start.
 */
export function createAdminRouter(opts: AdminOptions): AdminRouter {
  serverOf(opts.config);
  const auth = createAdminAuth(opts);
  const editor = opts.editor ?? new ConfigEditor({ config: opts.config, logger: opts.logger });
  const app = new Hono<AdminEnv>();
  app.use('*', (c, next) =>
    bodyLimit({
      maxSize: serverOf(opts.config).maxBodyBytes,
      onError: () => {
        const err = payloadTooLarge(serverOf(opts.config).maxBodyBytes);
        return adminError(err.code, err.message);
      },
    })(c, next),
  );
  mountAdminLogin(app, opts, auth);
  app.route('/api', createAdminApi(opts, auth, editor));
  app.all('/api/*', () => adminError('admin_not_found', 'no such admin API endpoint; see docs/admin.md'));
  // The console (HTML pages at /admin, /admin/tools, ...): the same services behind requireAdmin.
  app.route('/', createConsole(opts, auth, editor));
  app.onError((e, c) => {
    const err = toGatewayError(e);
    const status = HTTP_STATUS[err.code];
    if (status) {
      const extra: Record<string, unknown> = {};
      if (Array.isArray(err.details?.issues)) extra.issues = err.details.issues;
      if (err.code === 'admin_conflict' && typeof err.details?.version === 'string') extra.version = err.details.version;
      if (err.code === 'admin_conflict' && typeof err.details?.revision === 'number') extra.revision = err.details.revision;
      return adminError(err.code, err.message, status, extra);
    }
    opts.logger.error('admin request failed', { path: c.req.path, method: c.req.method, code: err.code, error: err.message });
    return adminError('internal', 'the admin request failed; see the gateway log', 500);
  });
  return { app, auth, editor };
}
