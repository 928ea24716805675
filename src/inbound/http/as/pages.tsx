import { createHash } from 'node:crypto';
import type { FunctionComponent as FC, VNode } from 'preact';
import { renderToString } from 'preact-render-to-string';
import type { RegisteredClient } from '../../../store/types.js';

/**
 * The authorization server's HTML: an error page and the consent page. Server-rendered, no script,
 * no external assets; the one stylesheet is allowed by its hash in the CSP.
 */

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--line:#d7dce2;--bg:#f6f7f9;--card:#fff;--accent:#1f5fd1;--warn:#8a5a00;--warnbg:#fff4d6}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a3abb5;--line:#3a4048;--bg:#15181c;--card:#1e2227;--accent:#7aa7ff;--warn:#ffd27a;--warnbg:#3a2f12}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:34rem;margin:3rem auto;padding:0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.75rem}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 1rem}
dl{margin:1rem 0;display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace}
.badge{display:inline-block;font-size:.8rem;padding:.1rem .5rem;border-radius:999px;border:1px solid var(--line);color:var(--muted)}
.warn{background:var(--warnbg);color:var(--warn);border-radius:8px;padding:.75rem 1rem;margin:1rem 0}
ul{padding-left:1.25rem}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{font:inherit;padding:.6rem 1.4rem;border-radius:8px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
.muted{color:var(--muted);font-size:.9rem}
`;

const CSS_HASH = createHash('sha256').update(CSS).digest('base64');

/** Headers of every HTML page: nothing loads but the stylesheet, no framing (clickjacking), no caching, no referrer. */
export const HTML_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${CSS_HASH}'; frame-ancestors 'none'; base-uri 'none'`,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
};

const Layout: FC<{ title: string }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{title}</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <main>
        <div class="card">{children}</div>
      </main>
    </body>
  </html>
);

/** A page as a response (preact-render-to-string: synchronous, see tsconfig.json's "jsxImportSource"). */
export async function renderPage<P>(status: number, page: VNode<P>, headers: Record<string, string> = {}): Promise<Response> {
  return new Response('<!doctype html>' + renderToString(page), { status, headers: { ...HTML_SECURITY_HEADERS, ...headers } });
}

export function errorPage(status: number, title: string, message: string, headers: Record<string, string> = {}): Promise<Response> {
  return renderPage(
    status,
    <Layout title={title}>
      <h1>{title}</h1>
      <p class="error">{message}</p>
      <p class="muted">Go back to the app you came from and start again. If this keeps happening, tell your administrator.</p>
    </Layout>,
    headers,
  );
}

export interface ConsentView {
  client: RegisteredClient;
  redirectUri: string;
  user: { email?: string; name?: string; sub: string };
  enterprise: string;
  requestId: string;
  csrf: string;
  /** What the user is asked to allow now (a step-up asks only for what is new). */
  scopes: string[];
  /** What the user allowed this agent before and this grant keeps (shown as context). */
  alreadyAllowed?: string[];
}

/** What each scope lets the agent do, said to the user (an unknown scope is named as it is). */
function scopeText(scope: string, enterprise: string): string {
  switch (scope) {
    case 'mcp:tools':
      return `call the gateway's tools as you, reaching ${enterprise}'s apps with your identity, within what your administrator allows;`;
    case 'offline_access':
      return 'keep this access after you close this page, until you or an administrator revoke it;';
    default:
      return `use the permission "${scope}";`;
  }
}

/** Where the browser goes after the decision, said so a person can check it. */
function describeRedirect(uri: string): string {
  const u = new URL(uri);
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    if (['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) return `an app on this computer (${u.host})`;
    return u.host;
  }
  return `the app that handles ${u.protocol}// links`;
}

function sourceLabel(client: RegisteredClient, enterprise: string): { verified: boolean; text: string } {
  switch (client.source) {
    case 'config':
      return { verified: true, text: `Registered by ${enterprise}'s administrator` };
    case 'cimd':
      return { verified: false, text: `Not verified by ${enterprise}: it describes itself at ${new URL(client.clientId).host}` };
    case 'dynamic':
      return { verified: false, text: `Not verified by ${enterprise}: it registered itself` };
  }
}

export function consentPage(v: ConsentView): Promise<Response> {
  const name = v.client.clientName ?? 'An unnamed agent';
  const source = sourceLabel(v.client, v.enterprise);
  const who = v.user.email ?? v.user.name ?? v.user.sub;
  const already = v.alreadyAllowed ?? [];
  return renderPage(
    200,
    <Layout title={`Allow ${name}?`}>
      <h1>
        Allow <strong>{name}</strong> to use {v.enterprise}'s tools as you?
      </h1>
      {source.verified ? null : (
        <p class="warn">{source.text}. Its name is chosen by the agent itself. Allow it only if you started this connection just now.</p>
      )}
      <dl>
        <dt>Agent</dt>
        <dd>
          {name} <span class="badge">{source.verified ? source.text : 'unverified'}</span>
        </dd>
        <dt>Client ID</dt>
        <dd>
          <code>{v.client.clientId}</code>
        </dd>
        <dt>Returns to</dt>
        <dd>{describeRedirect(v.redirectUri)}</dd>
        <dt>Signed in as</dt>
        <dd>
          {who}
          {v.user.email && v.user.name ? <span class="muted"> ({v.user.name})</span> : null}
        </dd>
      </dl>
      <p>If you allow it, this agent {already.length ? 'can also' : 'can'}:</p>
      <ul class="asked">
        {v.scopes.map((s) => (
          <li>{scopeText(s, v.enterprise)}</li>
        ))}
      </ul>
      {already.length ? (
        <>
          <p class="muted">You already allowed it to:</p>
          <ul class="already muted">
            {already.map((s) => (
              <li>{scopeText(s, v.enterprise)}</li>
            ))}
          </ul>
        </>
      ) : null}
      <p class="muted">Every call it makes is recorded with your name and the agent's. You are asked once per agent, and again only when it asks for more.</p>
      <form method="post" action="/oauth/consent">
        <input type="hidden" name="request_id" value={v.requestId} />
        <input type="hidden" name="csrf" value={v.csrf} />
        <div class="actions">
          <button class="primary" type="submit" name="decision" value="allow">
            Allow
          </button>
          <button type="submit" name="decision" value="deny">
            Deny
          </button>
        </div>
      </form>
    </Layout>,
  );
}
