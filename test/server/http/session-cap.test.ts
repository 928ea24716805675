/**
 * The per-sign-in cap of 2025-era MCP sessions (server.sessions.maxPerSignIn): opening one more
 * ends the least recently used, and that session's next request gets a 404 that says why (on any
 * instance: the reason is in the shared record). Another owner presenting the id learns nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/log.js';
import type { UserSession } from '../../../src/store/index.js';
import type { HttpApp } from '../../../src/server/http.js';
import { ACCEPT, initializeBody, startHarness, type Harness } from './harness.js';

let h: Harness;
let app: HttpApp;
let alice: UserSession;
let bob: UserSession;
const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  debug: () => {},
  info: (msg, fields) => void logs.push({ level: 'info', msg, ...(fields ? { fields } : {}) }),
  warn: (msg, fields) => void logs.push({ level: 'warn', msg, ...(fields ? { fields } : {}) }),
  error: (msg, fields) => void logs.push({ level: 'error', msg, ...(fields ? { fields } : {}) }),
};

beforeAll(async () => {
  h = await startHarness();
  alice = await h.signIn('alice');
  bob = await h.signIn('bob');
  app = h.extraApp({ sessions: { maxPerOwner: 2 }, logger });
});
afterAll(() => h?.close());

async function send(body: unknown, headers: Record<string, string>, method = 'POST'): Promise<Response> {
  return app.app.request(h.mcpUrl, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: ACCEPT, ...headers },
    ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
  });
}

async function open(token: string): Promise<Record<string, string>> {
  const res = await send(initializeBody(), { Authorization: `Bearer ${token}` });
  expect(res.status).toBe(200);
  await res.text();
  return { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': res.headers.get('mcp-session-id')!, 'MCP-Protocol-Version': '2025-11-25' };
}

const list = { jsonrpc: '2.0', id: 7, method: 'tools/list' };
const EVICTED =
  'closed because this sign-in opened more than 2 sessions with this client (server.sessions.maxPerSignIn); the least recently used one ends. Initialize a new session';

describe('server.sessions.maxPerSignIn', () => {
  it('the third session of a sign-in and client ends the least recently used; its next request says why', async () => {
    const token = await h.token(alice);
    const first = await open(token);
    const second = await open(token);
    expect((await send(list, second)).status).toBe(200); // second is now more recently used than first
    // first holds its GET stream on this instance: eviction ends it.
    const stream = await app.app.request(h.mcpUrl, { method: 'GET', headers: { ...first, Accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    logs.length = 0;
    const third = await open(token);

    // The stream ends, its last frame an SSE comment naming the reason (MCP allows no
    // notifications/message without the logging capability, which the gateway does not declare).
    const frames = await stream.text();
    expect(frames.trimEnd().split('\n\n').at(-1)).toBe(`: closed: ${EVICTED}`);
    expect(logs.filter((l) => l.msg === 'MCP session evicted')).toEqual([
      {
        level: 'info',
        msg: 'MCP session evicted',
        fields: { session: first['Mcp-Session-Id'], maxPerSignIn: 2, sub: alice.sub, clientId: 'agent-a', newSession: third['Mcp-Session-Id'] },
      },
    ]);

    const table = [
      { who: 'the evicted session', headers: first, status: 404, message: `Session not found: ${EVICTED}` },
      { who: 'a kept session', headers: second, status: 200 },
      {
        who: 'another user presenting the evicted id',
        headers: { ...first, Authorization: `Bearer ${await h.token(bob)}` },
        status: 404,
        message: 'Session not found',
      },
    ];
    for (const row of table) {
      const res = await send(list, row.headers);
      const body = (await res.json()) as { error?: { code: number; message: string } };
      expect({ who: row.who, status: res.status, ...(row.message ? { error: body.error } : {}) }).toEqual({
        who: row.who,
        status: row.status,
        ...(row.message ? { error: { code: -32001, message: row.message } } : {}),
      });
    }
  });

  it('a session its client deleted says so', async () => {
    const s = await open(await h.token(alice));
    expect((await send(undefined, s, 'DELETE')).status).toBe(200);
    const res = await send(list, s);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Session not found: deleted by the client (HTTP DELETE)');
  });
});
