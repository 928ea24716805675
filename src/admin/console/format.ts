import type { Actor } from '../../domain/control.js';

/** Console times are UTC everywhere (the audit log's clock), to the second. */
export function utc(ms: number | string | undefined): string {
  if (ms === undefined) return '';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}

/** "3 min ago", "in 2 h": for a glance; the exact time goes in the title attribute. */
export function relative(ms: number, now: number): string {
  const s = Math.round((now - ms) / 1000);
  const abs = Math.abs(s);
  if (abs < 5) return 'just now';
  const [n, unit] =
    abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.floor(abs / 60), 'min'] : abs < 86_400 ? [Math.floor(abs / 3600), 'h'] : [Math.floor(abs / 86_400), 'd'];
  return s >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

/** Who set a switch or made a change, for a table cell. */
export function actorLabel(a: Actor | Record<string, unknown> | undefined): string {
  if (!a || typeof a !== 'object') return 'unknown';
  const actor = a as Partial<Actor> & Record<string, unknown>;
  if (actor.kind === 'security_event') return `security event ${String(actor.eventType ?? '')} from ${String(actor.iss ?? '')}`;
  if (actor.kind === 'scim') return `SCIM provisioning from ${String(actor.client ?? '')}`;
  if (actor.kind === 'admin') {
    if (actor.via === 'token') return 'admin token (automation)';
    if (actor.via === 'cli') return 'admin CLI on a gateway host (config import)';
    return String(actor.email ?? actor.sub ?? 'admin');
  }
  return 'unknown';
}

/** Space- or comma-separated scopes as typed in a form; empty tokens dropped, order kept. */
export function splitScopes(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
