import type { Context, MiddlewareHandler } from 'hono';
import type { ComponentChildren as Child } from 'preact';
import { FileAuditSource, type AuditSource } from '../../../audit/source.js';
import type { RevocationSummary } from '../../../domain/control.js';
import type { AdminAuth } from '../../auth.js';
import { adminCsrfToken, getAdminActor, type AdminEnv, type AdminOptions } from '../../context.js';
import { redirectWithFlash, takeFlash, type Flash } from '../flash.js';
import { consoleHeaders, ErrorBody, Layout, renderHtml, type Section } from '../layout.js';
import type { TargetRow } from '../switches.js';

/** What the console's pages share: the guard, the page frame, forms, redirects with a flash, and the config's targets. */
export interface ConsoleKit {
  opts: AdminOptions;
  /** requireAdmin, with its JSON refusals turned into pages a person can read. */
  guard: MiddlewareHandler<AdminEnv>;
  /** The security headers of every console page (CSP naming the IdP's origin). */
  headers(): Record<string, string>;
  /** The session's CSRF token for the page's forms; none for an admin token (no cookie, no CSRF). */
  csrfOf(c: Context<AdminEnv>): { csrf?: string };
  page(c: Context<AdminEnv>, status: number, title: string, section: Section, body: Child, flashOverride?: Flash): Promise<Response>;
  notFoundPage(c: Context<AdminEnv>, message: string): Promise<Response>;
  formOf(c: Context): Promise<Record<string, string>>;
  redirect(to: string, flash: Flash): Response;
  /** The resources and upstreams of the config in force: what a switch can name. */
  targets(): TargetRow[];
  /** Where the audit log is read. */
  auditSource(): AuditSource;
}

export function consoleKit(opts: AdminOptions, auth: AdminAuth): ConsoleKit {
  const requireAdmin = auth.requireAdmin({ redirectToLogin: true });
  // The fleet's table with the PostgreSQL sink; else this host's directory (read where the config says now).
  const auditSource = () => opts.auditSource ?? new FileAuditSource(opts.config.current.auditDir);

  const headers = () => consoleHeaders(new URL(opts.config.current.config.idp.issuer).origin);

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

  const targets = (): TargetRow[] => {
    const { config } = opts.config.current;
    return [
      ...Object.entries(config.resources).map(([name, r]) => ({ name, kind: 'resource' as const, endpoint: r.resource, enabled: r.enabled })),
      ...config.upstreams.map((u) => ({ name: u.name, kind: 'upstream' as const, endpoint: u.url, enabled: u.enabled })),
    ];
  };

  return { opts, guard, headers, csrfOf, page, notFoundPage, formOf, redirect, targets, auditSource };
}

/** What a switch or a sign-out revoked, for its flash message ("" when nothing). */
export function revokedText(r: RevocationSummary): string {
  const parts: string[] = [];
  if (r.sessions) parts.push(`${r.sessions} session${r.sessions === 1 ? '' : 's'} signed out`);
  if (r.refreshTokens) parts.push(`${r.refreshTokens} refresh token${r.refreshTokens === 1 ? '' : 's'} revoked`);
  if (r.downstreamTokens) parts.push(`${r.downstreamTokens} cached downstream token${r.downstreamTokens === 1 ? '' : 's'} dropped`);
  return parts.length ? ` ${parts.join(', ')}.` : '';
}
