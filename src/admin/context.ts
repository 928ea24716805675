import type { Context } from 'hono';
import type { AuditSource } from '../audit/source.js';
import type { AuditSink } from '../audit/types.js';
import type { ConfigStore, ServerConfig } from '../config/index.js';
import type { ControlService } from '../control/service.js';
import type { Actor } from '../domain/control.js';
import type { Deps } from '../deps.js';
import { ERROR_CODES, ERROR_TABLE, GatewayError, type ErrorCode } from '../errors.js';
import type { AccessTokenService } from '../inbound/http/tokens.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { isLoopbackHttp } from '../security.js';
import type { ConfigEditor } from './config-editor.js';

export interface AdminOptions {
  config: ConfigStore;
  store: Store;
  control: ControlService;
  audit: AuditSink;
  /**
   * Where the console reads the log from: the fleet's audit table with the PostgreSQL sink (every
   * instance's calls), else this host's audit directory. Default: the directory of the config.
   */
  auditSource?: AuditSource;
  deps: Deps;
  logger: Logger;
  /** Recognises a user's MCP access token sent to the admin API (answered 403, not 401). */
  tokens?: AccessTokenService;
  /** Default: a ConfigEditor over `config`. */
  editor?: ConfigEditor;
}

/** What `requireAdmin` puts in the hono context. */
export interface AdminVariables {
  adminActor: Actor & { kind: 'admin' };
  /** Set for a browser session (cookie): its CSRF token, for forms of the console. */
  adminCsrf?: string;
}
export type AdminEnv = { Variables: AdminVariables };

/** The admin who made this request. Only valid behind `requireAdmin`. */
export function getAdminActor(c: Context): Actor & { kind: 'admin' } {
  const actor = (c as Context<AdminEnv>).get('adminActor');
  if (!actor) throw new GatewayError('internal', 'getAdminActor used on a route without requireAdmin');
  return actor;
}

/** The CSRF token a console form must send as `_csrf` (or `X-CSRF-Token`); undefined for token (non-browser) callers. */
export function adminCsrfToken(c: Context): string | undefined {
  return (c as Context<AdminEnv>).get('adminCsrf');
}

/**
 * The admin API's status for each code it shows as is (the error table's, for the codes on the admin
 * surface); any other code is an internal failure: 500 with nothing but "see the gateway log".
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = Object.fromEntries(
  ERROR_CODES.filter((code) => code !== 'internal' && ERROR_TABLE[code].surfaces.includes('admin')).map((code) => [code, ERROR_TABLE[code].status]),
);

/** The JSON error body of the admin API: `{ error: <code>, message, ...extra }`. */
export function adminError(
  code: ErrorCode,
  message: string,
  status?: number,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: code, message, ...extra }), {
    status: status ?? HTTP_STATUS[code] ?? 500,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
  });
}

export function serverOf(config: ConfigStore): ServerConfig {
  const s = config.current.config.server;
  if (!s) throw new GatewayError('config_invalid', 'the "server" section is missing from the config; the admin API needs server.publicUrl');
  return s;
}

/** `__Host-` needs Secure, which browsers refuse over plain http: a loopback http gateway (development) uses the bare name. */
export function secureCookies(config: ConfigStore): boolean {
  return !isLoopbackHttp(new URL(serverOf(config).publicUrl));
}

export function cookieName(config: ConfigStore, base: string): string {
  return `${secureCookies(config) ? '__Host-' : ''}${base}`;
}

export function issuerOf(config: ConfigStore): string {
  return serverOf(config).publicUrl.replace(/\/+$/, '');
}
