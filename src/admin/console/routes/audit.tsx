import type { Hono } from 'hono';
import { verifyAuditDir } from '../../../audit/verify.js';
import { toGatewayError } from '../../../errors.js';
import type { AdminEnv } from '../../context.js';
import { AuditBody, type VerifyState } from '../audit.js';
import { loadAuditView, parseAuditQuery, type AuditView } from '../audit-view.js';
import type { Flash } from '../flash.js';
import type { ConsoleKit } from './kit.js';

/** The audit page (search the log) and its chain check, whose last result the page shows. */
export function auditRoutes(app: Hono<AdminEnv>, kit: ConsoleKit): void {
  const { opts, guard, page, csrfOf, redirect, targets, auditSource } = kit;
  let lastVerify: VerifyState | undefined;

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
}
