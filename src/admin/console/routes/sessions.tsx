import type { Hono } from 'hono';
import { getAdminActor, type AdminEnv } from '../../context.js';
import { actorLabel } from '../format.js';
import { SessionsBody } from '../sessions.js';
import { revokedText, type ConsoleKit } from './kit.js';

/** The sessions page: who is signed in through which agents, and signing one session out. */
export function sessionRoutes(app: Hono<AdminEnv>, kit: ConsoleKit): void {
  const { opts, guard, page, csrfOf, formOf, redirect } = kit;

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
}
