import type { Hono } from 'hono';
import { describeSwitch, KillSwitchSchema, switchKey } from '../../../control/switches.js';
import type { KillSwitch } from '../../../domain/control.js';
import { isGatewayError } from '../../../errors.js';
import { getAdminActor, type AdminEnv } from '../../context.js';
import { knownAgents, knownUsers, recentAudit } from '../directory.js';
import { actorLabel } from '../format.js';
import { SwitchesBody } from '../switches.js';
import { revokedText, type ConsoleKit } from './kit.js';

/** The switches page: set and lift kill switches (users, agents, resources, connections, read-only mode). */
export function switchRoutes(app: Hono<AdminEnv>, kit: ConsoleKit): void {
  const { opts, guard, page, csrfOf, formOf, redirect, targets, auditSource } = kit;

  app.get('/switches', guard, async (c) => {
    const [sessions, recent] = await Promise.all([opts.control.listSessions(), recentAudit(auditSource())]);
    const switches = opts.control.listSwitches();
    return page(
      c,
      200,
      'Switches',
      'switches',
      <SwitchesBody
        v={{
          now: opts.deps.now(),
          switches,
          targets: targets(),
          agents: await knownAgents(opts, sessions, switches, recent),
          users: knownUsers(sessions, switches, recent),
          idpIssuer: opts.config.current.config.idp.issuer,
          ...csrfOf(c),
        }}
      />,
    );
  });

  app.post('/switches', guard, async (c) => {
    const f = await formOf(c);
    const back = f.back ?? '/admin/switches';
    const [op, kind, arg] = (f.do ?? '').trim().split(/\s+/);
    if (op !== 'set' && op !== 'lift') return redirect(back, { kind: 'error', text: 'Unknown action: use the buttons of the switches page.' });
    let s: KillSwitch | undefined;
    if (op === 'lift' && kind === 'key') {
      s = opts.control.listSwitches().find((x) => switchKey(x.switch) === f.key)?.switch;
      if (!s) return redirect(back, { kind: 'warn', text: 'That switch is no longer set (someone lifted it already).' });
    } else {
      const candidate =
        kind === 'user'
          ? { kind, user: { iss: f.iss || opts.config.current.config.idp.issuer, sub: (f.sub ?? '').trim() } }
          : kind === 'agent'
            ? { kind, clientId: (f.clientId ?? '').trim() }
            : kind === 'resource'
              ? { kind, name: arg ?? f.name ?? '' }
              : kind === 'connection'
                ? { kind, clientId: (f.clientId ?? '').trim(), resource: arg ?? f.resource ?? '' }
                : { kind };
      const parsed = KillSwitchSchema.safeParse(candidate);
      if (!parsed.success) {
        const what = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'kind'}: ${i.message}`).join('; ');
        return redirect(back, { kind: 'error', text: `Nothing changed: ${what}.` });
      }
      s = parsed.data;
    }
    const label = describeSwitch(s);
    const actor = getAdminActor(c);
    const reason = (f.reason ?? '').trim().slice(0, 1000);
    if (op === 'set') {
      const unknown = unknownTarget(s);
      if (unknown) return redirect(back, { kind: 'error', text: unknown });
      const r = await opts.control.setSwitch(s, reason || `set in the admin console by ${actorLabel(actor)}`, actor);
      const head = s.kind === 'all' ? 'Read-only mode is on: every tool call is refused from now on.' : `Disabled ${label}: in force from the next call.`;
      return redirect(back, { kind: 'ok', text: `${head}${revokedText(r.revoked)}` });
    }
    try {
      const lifted = await opts.control.liftSwitch(s, reason || `lifted in the admin console by ${actorLabel(actor)}`, actor);
      if (!lifted) return redirect(back, { kind: 'warn', text: `${label} was not set.` });
    } catch (e) {
      if (isGatewayError(e, 'audit_unavailable')) return redirect(back, { kind: 'error', text: e.message });
      throw e;
    }
    return redirect(back, { kind: 'ok', text: s.kind === 'all' ? 'Read-only mode is off: calls go through again.' : `Enabled ${label} again.` });
  });

  /** Setting a switch on a name the config does not know would silently stop nothing. */
  function unknownTarget(s: KillSwitch): string | undefined {
    const name = s.kind === 'resource' ? s.name : s.kind === 'connection' ? s.resource : undefined;
    if (name === undefined) return undefined;
    const known = targets().map((t) => t.name);
    return known.includes(name) ? undefined : `Nothing changed: unknown resource "${name}" (known: ${known.join(', ') || 'none'}).`;
  }
}
