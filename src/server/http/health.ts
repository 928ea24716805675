import { access, constants, stat } from 'node:fs/promises';
import type { AuditSink } from '../../audit/types.js';
import type { ConfigStore } from '../../config/index.js';
import type { Store } from '../../store/types.js';
import { h } from 'preact';
import { Layout as ConsoleLayout, renderHtml } from '../../admin/console/layout.js';
import { consentPage, errorPage } from '../../inbound/http/as/pages.js';

export type ReadinessCheck = 'config' | 'store' | 'audit' | 'pages' | 'draining' | 'notifications';

export interface Readiness {
  ready: boolean;
  /** Each check and "ok" or why it failed (no secrets). */
  checks: Partial<Record<ReadinessCheck, string>>;
  /** The first failing check. */
  failing?: ReadinessCheck;
}

const CHECK_TIMEOUT_MS = 2_000;

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    }),
  ]);
}

/**
 * `/readyz`: may this instance take traffic? The config has a `server` section, the store answers
 * a query, and the audit log can be written now (calls fail closed without it): the directory is a
 * writable directory, and the sink's own check writes and fsyncs there (a full or read-only disk, a
 * failing device, a lock it cannot take).
 */
export async function readiness(opts: {
  config: ConfigStore;
  store: Store;
  draining: boolean;
  audit?: Pick<AuditSink, 'check'>;
  auditInDatabase?: boolean;
}): Promise<Readiness> {
  const checks: Readiness['checks'] = {};
  if (opts.draining) checks.draining = 'shutting down';
  checks.config = opts.config.current.config.server ? 'ok' : 'the config has no "server" section';
  try {
    await bounded(opts.store.isAccessTokenRevoked('readyz-probe'), 'the store');
    checks.store = 'ok';
  } catch (e) {
    checks.store = `unreachable: ${(e as Error).message}`.slice(0, 200);
  }
  const dir = opts.config.current.auditDir;
  try {
    // The PostgreSQL sink's check (below) asks the database instead.
    if (!opts.auditInDatabase) {
      const s = await stat(dir);
      if (!s.isDirectory()) throw new Error(`${dir} is not a directory`);
      await access(dir, constants.W_OK);
    }
    checks.audit = 'ok';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    checks.audit = `not writable: ${code ? `${dir}: ${code}` : (e as Error).message}`;
  }
  if (checks.audit === 'ok' && opts.audit?.check) {
    try {
      const why = await bounded(opts.audit.check(), 'the audit log');
      if (why) checks.audit = `cannot write: ${why}`.slice(0, 300);
    } catch (e) {
      checks.audit = `cannot write: ${(e as Error).message}`.slice(0, 300);
    }
  }
  checks.pages = await (pagesOnce ??= checkPages(renderEveryPage));
  // PostgreSQL's LISTEN connection is reported, never failing readiness: while it is re-opened,
  // kill switches and config edits from other instances still arrive by the revision poll (500 ms),
  // and this instance serves correctly; taking it out of the balancer would only shift load, and a
  // PostgreSQL restart would take every instance out at once.
  const listen = opts.store.listenStatus?.();
  if (listen)
    checks.notifications = listen.up
      ? 'ok'
      : `degraded: LISTEN connection down${listen.lastError ? ` (${listen.lastError})` : ''}, reconnecting; changes from other instances arrive by the poll`.slice(
          0,
          240,
        );
  const failing = (Object.keys(checks) as ReadinessCheck[]).find((k) => k !== 'notifications' && checks[k] !== 'ok');
  return { ready: !failing, checks, ...(failing ? { failing } : {}) };
}

/**
 * The HTML pages (the authorization server's consent and error pages, the console's frame) rendered
 * once per process: their code cannot change without a restart. A gateway whose JSX was compiled
 * with the wrong settings (run through a TypeScript loader from another directory: "React is not
 * defined") answers every sign-in with 500, so it is not ready.
 */
let pagesOnce: Promise<string> | undefined;

async function checkPages(render: () => Promise<void>): Promise<string> {
  try {
    await render();
    return 'ok';
  } catch (e) {
    return `cannot render: ${e instanceof Error ? e.message : String(e)}`.slice(0, 200);
  }
}

async function renderEveryPage(): Promise<void> {
  const client = {
    clientId: 'https://agent.example/readyz',
    source: 'dynamic',
    clientName: 'readyz',
    redirectUris: ['http://127.0.0.1/cb'],
    tokenEndpointAuthMethod: 'none',
    metadata: {},
    createdAt: 0,
  } as const;
  const pages = [
    await errorPage(400, 'readyz', 'readyz'),
    await consentPage({
      client: { ...client, redirectUris: [...client.redirectUris] },
      redirectUri: 'http://127.0.0.1/cb',
      user: { sub: 'readyz' },
      enterprise: 'readyz',
      requestId: 'readyz',
      csrf: 'readyz',
      scopes: [],
    }),
    await renderHtml(200, h(ConsoleLayout, { title: 'readyz' }, 'readyz'), {}),
  ];
  for (const page of pages) {
    const html = await page.text();
    if (!html.startsWith('<!doctype html><html')) throw new Error(`a page rendered as ${JSON.stringify(html.slice(0, 60))}`);
  }
}
