import { randomUUID } from 'node:crypto';
import { badRequest, needScopes, ok, type ApiApp } from '../api-env.js';

/** Acme Chat: post a message to a channel as the acting user. */

const CHANNEL = /^[a-z0-9][a-z0-9-]{0,79}$/;

export function chatApi(api: ApiApp): void {
  api.post('/channels/:channel/messages', async (c) => {
    const denied = needScopes(c, 'chat.write');
    if (denied) return denied;
    const channel = c.req.param('channel');
    if (!CHANNEL.test(channel)) return badRequest(c, 'channel must be lowercase letters, digits and "-"');
    const body = (await c.req.json().catch(() => undefined)) as { text?: unknown } | undefined;
    if (typeof body?.text !== 'string' || !body.text.trim() || body.text.length > 4000) {
      return badRequest(c, 'text must be a non-empty string (max 4000)');
    }
    return ok(c, { id: `msg_${randomUUID().slice(0, 8)}`, channel, text: body.text, postedBy: c.get('auth').email, postedAt: new Date().toISOString() }, 201);
  });
}
