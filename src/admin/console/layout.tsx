import { createHash } from 'node:crypto';
import type { FunctionComponent as FC, VNode } from 'preact';
import { renderToString } from 'preact-render-to-string';
import { CSRF_FIELD } from '../auth.js';
import { ADMIN_LOGIN_PATH, ADMIN_LOGOUT_PATH } from '../login.js';
import type { Flash } from './flash.js';

/**
 * The console's frame: one stylesheet (allowed by its hash in the CSP), no script at all, no
 * external asset. Charts are inline SVG whose colours come from classes, so the CSP needs no
 * 'unsafe-inline' for styles either.
 */

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--line:#dde1e6;--bg:#f4f5f7;--card:#fff;--accent:#1f5fd1;--accentbg:#e8f0fe;
--ok:#1e7b34;--okbg:#e3f4e7;--err:#b42318;--errbg:#fdecea;--warn:#8a5a00;--warnbg:#fff4d6;--head:#17202b;--headfg:#e9edf2}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a3abb5;--line:#333a42;--bg:#14171b;--card:#1c2026;--accent:#7aa7ff;--accentbg:#1d2a44;
--ok:#7bd88f;--okbg:#163322;--err:#ff8a80;--errbg:#3b1a18;--warn:#ffd27a;--warnbg:#3a2f12;--head:#0d1117;--headfg:#e9edf2}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}
header.top{background:var(--head);color:var(--headfg)}
header.top .bar{max-width:80rem;margin:0 auto;padding:.6rem 1.25rem;display:flex;align-items:center;gap:1.5rem;flex-wrap:wrap}
header.top .brand{font-weight:650;letter-spacing:.01em;white-space:nowrap}
header.top .brand small{font-weight:400;opacity:.7;margin-left:.35rem}
header.top nav{display:flex;gap:.25rem;flex:1}
header.top nav a{color:var(--headfg);text-decoration:none;padding:.35rem .75rem;border-radius:6px;opacity:.85}
header.top nav a:hover{background:rgba(255,255,255,.08);opacity:1}
header.top nav a[aria-current=page]{background:rgba(255,255,255,.14);opacity:1;font-weight:600}
header.top .who{display:flex;gap:.75rem;align-items:center;font-size:.9rem;opacity:.9}
header.top .who button{background:transparent;color:var(--headfg);border-color:rgba(255,255,255,.3)}
main{max-width:80rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.4rem;margin:.25rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .75rem}
h3{font-size:.95rem;margin:1rem 0 .5rem}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem;margin:0 0 1.25rem}
.lead{color:var(--muted);margin:-.5rem 0 1rem}
.muted{color:var(--muted)}
.small{font-size:.85rem}
code,.mono{font:.85em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
tbody tr:last-child td{border-bottom:0}
td.nowrap,th.nowrap{white-space:nowrap}
td.wrap{overflow-wrap:anywhere}
.scroll{overflow-x:auto}
.badge{display:inline-block;font-size:.75rem;font-weight:600;line-height:1.2;padding:.15rem .5rem;border-radius:999px;border:1px solid var(--line);color:var(--muted);white-space:nowrap}
.badge.on{background:var(--okbg);color:var(--ok);border-color:transparent}
.badge.off{background:var(--errbg);color:var(--err);border-color:transparent}
.badge.warn{background:var(--warnbg);color:var(--warn);border-color:transparent}
.badge.info{background:var(--accentbg);color:var(--accent);border-color:transparent}
.flash{border-radius:8px;padding:.65rem 1rem;margin:0 0 1rem;border:1px solid transparent}
.flash.ok{background:var(--okbg);color:var(--ok)}
.flash.error{background:var(--errbg);color:var(--err)}
.flash.warn{background:var(--warnbg);color:var(--warn)}
form{margin:0}
form.inline{display:flex;gap:.4rem;align-items:center;flex-wrap:wrap}
.stack{display:grid;gap:.9rem;max-width:44rem}
.field label{display:block;font-weight:600;font-size:.9rem;margin-bottom:.25rem}
.field .hint{color:var(--muted);font-size:.8rem;margin-top:.2rem}
.field-error{color:var(--err);font-size:.85rem;margin-top:.25rem}
.check{display:flex;gap:.5rem;align-items:center;font-weight:600;font-size:.9rem}
.check .muted{font-weight:400}
input[type=text],input[type=search],input[type=datetime-local],select,textarea{font:inherit;font-size:.9rem;color:var(--fg);background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.35rem .5rem;max-width:100%}
input[type=text].wide,textarea,select.wide{width:100%}
input.reason{width:13rem}
td input.reason{width:10.5rem}
form.row-form{flex-wrap:nowrap}
form.other label{font-size:.85rem;color:var(--muted)}
form.other input[type=text]{width:10rem}
table.records code{white-space:nowrap}
textarea{min-height:4.5rem;resize:vertical}
textarea.json{min-height:22rem;font:.8rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
[aria-invalid=true]{border-color:var(--err)!important;outline:1px solid var(--err)}
button,.button{font:inherit;font-size:.85rem;padding:.35rem .8rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block;white-space:nowrap}
button.primary,.button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{background:var(--err);border-color:var(--err);color:#fff}
button.safe{background:var(--ok);border-color:var(--ok);color:#fff}
button.conn{font-size:.8rem;padding:.2rem .55rem}
button.conn.on{background:var(--okbg);color:var(--ok);border-color:transparent}
button.conn.off{background:var(--errbg);color:var(--err);border-color:var(--err);text-decoration:line-through}
.actions{display:flex;gap:.6rem;align-items:center;margin-top:.5rem}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:1.25rem}
@media (max-width:60rem){.grid2{grid-template-columns:1fr}}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0;font-size:.9rem}
.kv dt{color:var(--muted)}
.kv dd{margin:0;overflow-wrap:anywhere}
.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.6rem 1rem;align-items:end}
.filters label{display:block;font-size:.8rem;font-weight:600;color:var(--muted);margin-bottom:.2rem}
.filters input,.filters select{width:100%}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:.75rem;font-size:.9rem}
.chart svg{width:100%;height:auto;display:block}
.chart .ok{fill:var(--ok)}
.chart .error{fill:#d08a00}
.chart .denied{fill:var(--err)}
.chart .axis{stroke:var(--line);stroke-width:1}
.chart text{fill:var(--muted);font-size:11px;font-family:system-ui,sans-serif}
.legend{display:flex;gap:1.25rem;font-size:.85rem;margin-top:.4rem;color:var(--muted)}
.swatch{display:inline-block;width:.75rem;height:.75rem;border-radius:2px;margin-right:.35rem;vertical-align:-1px}
.swatch.ok{background:var(--ok)}.swatch.error{background:#d08a00}.swatch.denied{background:var(--err)}
.verify{border-radius:8px;padding:.65rem 1rem;margin:.25rem 0 .75rem}
.verify.ok{background:var(--okbg);color:var(--ok)}
.verify.broken{background:var(--errbg);color:var(--err)}
details summary{cursor:pointer;color:var(--accent);font-size:.8rem}
details pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.75rem;background:var(--bg);padding:.5rem;border-radius:6px;max-width:40rem}
.agent-name{font-weight:600}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);border:0}
.readonly-on{border-color:var(--err)}
`;

const CSS_HASH = createHash('sha256').update(CSS).digest('base64');

/** Nothing loads but the stylesheet; forms post only to the gateway (and sign-out's hop to the IdP). */
export function consoleHeaders(idpOrigin: string): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${CSS_HASH}'; form-action 'self' ${idpOrigin}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

export type Section = 'tools' | 'switches' | 'sessions' | 'audit';

const NAV: [Section, string][] = [
  ['tools', 'Tools'],
  ['switches', 'Switches'],
  ['sessions', 'Sessions'],
  ['audit', 'Audit'],
];

export interface Frame {
  /** Who is signed in, for the header. */
  who: string;
  /** The session's CSRF token (undefined for an admin token: no cookie, no CSRF). */
  csrf?: string;
  flash?: Flash;
}

export const Csrf: FC<{ token?: string }> = ({ token }) => (token ? <input type="hidden" name={CSRF_FIELD} value={token} /> : null);

export const Layout: FC<{ title: string; section?: Section; frame?: Frame }> = ({ title, section, frame, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{`${title} · xaa-gateway admin`}</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <header class="top">
        <div class="bar">
          <span class="brand">
            xaa-gateway<small>admin</small>
          </span>
          {frame ? (
            <nav aria-label="Console">
              {NAV.map(([id, label]) => (
                <a href={`/admin/${id}`} aria-current={id === section ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          ) : null}
          {frame ? (
            <div class="who">
              <span>Signed in as {frame.who}</span>
              {frame.csrf ? (
                <form method="post" action={ADMIN_LOGOUT_PATH}>
                  <Csrf token={frame.csrf} />
                  <button type="submit">Sign out</button>
                </form>
              ) : null}
            </div>
          ) : null}
        </div>
      </header>
      <main>
        {frame?.flash ? (
          <div class={`flash ${frame.flash.kind}`} role={frame.flash.kind === 'error' ? 'alert' : 'status'}>
            {frame.flash.text}
          </div>
        ) : null}
        {children}
      </main>
    </body>
  </html>
);

/** A console page as a response (preact-render-to-string: synchronous, see tsconfig.json's "jsxImportSource"). */
export async function renderHtml<P>(status: number, page: VNode<P>, headers: Record<string, string>, extra: Record<string, string> = {}): Promise<Response> {
  return new Response('<!doctype html>' + renderToString(page), { status, headers: { ...headers, ...extra } });
}

/** A page of one message: what happened, a detail in small print, and where to go. */
const Notice: FC<{ title: string; message: string; note?: string; link: { href: string; text: string; primary?: boolean } }> = ({
  title,
  message,
  note,
  link,
}) => (
  <section class="card">
    <h1>{title}</h1>
    <p>{message}</p>
    {note ? <p class="muted small">{note}</p> : null}
    <div class="actions">
      <a class={link.primary ? 'button primary' : 'button'} href={link.href}>
        {link.text}
      </a>
    </div>
  </section>
);

/** A page for a refusal or failure: says what happened and where to go. */
export const ErrorBody: FC<{ status: number; title: string; message: string; signIn?: boolean }> = ({ status, title, message, signIn }) => (
  <Notice
    title={title}
    message={message}
    note={`HTTP ${status}`}
    link={signIn ? { href: ADMIN_LOGIN_PATH, text: 'Sign in to the console', primary: true } : { href: '/admin/tools', text: 'Back to the console' }}
  />
);

/**
 * Where signing out lands. Only the console session ended (the IdP's own session is not ours to
 * end), so signing in again may go through without a password prompt.
 */
export const SignedOutBody: FC = () => (
  <Notice
    title="You are signed out"
    message="Your admin console session has ended."
    note="Signing in again goes through your identity provider, which may still have you signed in there."
    link={{ href: ADMIN_LOGIN_PATH, text: 'Sign in again', primary: true }}
  />
);
