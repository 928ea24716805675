import { randomUUID } from 'node:crypto';
import { badRequest, needScopes, ok, seeded, type ApiApp } from '../api-env.js';

/** Acme Calendar: free slots of the acting user, and meeting creation. */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function calendarApi(api: ApiApp): void {
  api.get('/free-slots', (c) => {
    const denied = needScopes(c, 'calendar.read');
    if (denied) return denied;
    const date = c.req.query('date') ?? '';
    if (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) return badRequest(c, 'date must be YYYY-MM-DD');
    const duration = Number(c.req.query('durationMinutes') ?? '30');
    if (!Number.isInteger(duration) || duration < 15 || duration > 240) return badRequest(c, 'durationMinutes must be an integer from 15 to 240');
    const sub = c.get('auth').sub;
    // Working day 09:00-17:00 UTC in half hours; about a third of them are busy, the same every run.
    const free = Array.from({ length: 16 }, (_, i) => seeded(sub, date, String(i)) > 0.35);
    const slots: Array<{ start: string; end: string }> = [];
    const need = Math.ceil(duration / 30);
    for (let i = 0; i + need <= 16; i++) {
      if (free.slice(i, i + need).every(Boolean)) {
        const start = new Date(Date.parse(`${date}T09:00:00Z`) + i * 30 * 60_000);
        slots.push({ start: start.toISOString(), end: new Date(start.getTime() + duration * 60_000).toISOString() });
      }
    }
    return ok(c, { date, durationMinutes: duration, slots });
  });

  api.post('/meetings', async (c) => {
    const denied = needScopes(c, 'calendar.write');
    if (denied) return denied;
    const body = (await c.req.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') return badRequest(c, 'body must be a JSON object');
    const { title, start, durationMinutes, attendees } = body;
    if (typeof title !== 'string' || !title.trim() || title.length > 200) return badRequest(c, 'title must be a non-empty string (max 200)');
    if (typeof start !== 'string' || Number.isNaN(Date.parse(start))) return badRequest(c, 'start must be an ISO 8601 date-time');
    if (!Number.isInteger(durationMinutes) || (durationMinutes as number) < 5 || (durationMinutes as number) > 480) {
      return badRequest(c, 'durationMinutes must be an integer from 5 to 480');
    }
    if (!Array.isArray(attendees) || !attendees.every((a) => typeof a === 'string' && EMAIL.test(a))) {
      return badRequest(c, 'attendees must be an array of email addresses');
    }
    const meeting = { title, start: new Date(start).toISOString(), durationMinutes, attendees };
    return ok(c, { id: `mtg_${randomUUID().slice(0, 8)}`, ...meeting, organizer: c.get('auth').email }, 201);
  });
}
