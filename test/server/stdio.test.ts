import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { runStdio } from '../../src/server/stdio/index.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

/**
 * `xaa-gateway stdio` in process, spoken to line by line (each frame under test), against the demo
 * enterprise: both protocol eras, and the transport's answers to malformed and oversized input.
 */

let env: Env;

beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

interface Wire {
  send(message: unknown): void;
  sendRaw(text: string): void;
  /** The next message matching `pick` (default: the response to `id`). */
  next(pick: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  request(id: number, method: string, params?: unknown): Promise<any>;
  /** Settles when runStdio returned. */
  done: Promise<void>;
  /** Resolved once runStdio returned; undefined while the gateway is up. */
  exited(): boolean;
  close(): Promise<void>;
}

function startWire(user: string): Wire {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const seen: any[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      seen.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
    for (const w of waiters) w();
  });
  let exited = false;
  const done = runStdio({ configPath: env.configPath, credentialsPath: env.credentials(user), logger: silentLogger, stdin, stdout }).finally(
    () => (exited = true),
  );
  const next = (pick: (m: any) => boolean, timeoutMs = 10_000) =>
    new Promise<any>((resolve, reject) => {
      const check = () => {
        const i = seen.findIndex(pick);
        if (i < 0) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(seen.splice(i, 1)[0]);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching message within ${timeoutMs} ms; seen: ${JSON.stringify(seen).slice(0, 500)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const send = (m: unknown) => stdin.write(JSON.stringify(m) + '\n');
  return {
    send,
    sendRaw: (text) => stdin.write(text),
    next,
    request(id, method, params) {
      send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
      return next((m) => m.id === id);
    },
    done,
    exited: () => exited,
    async close() {
      stdin.end();
      await done;
    },
  };
}

async function legacySession(user: string, protocolVersion: string): Promise<Wire> {
  const wire = startWire(user);
  const init = await wire.request(0, 'initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'stdio-wire-test', version: '1.0.0' } });
  expect(init.result.protocolVersion).toBe(protocolVersion);
  wire.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return wire;
}

const MODERN = '2026-07-28';
const envelope = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'stdio-wire-test', version: '2.0.0' },
};
const BAD_ARGS = { name: 'calendar_create_meeting', arguments: { title: 'x', start: 'now', durationMinutes: 'long', attendees: [] } };
const BAD_ARGS_MESSAGE = 'invalid arguments for tool "calendar_create_meeting": /durationMinutes must be integer';

describe('invalid tool arguments by protocol revision (SEP-1303)', () => {
  it.each([
    ['2025-03-26', { error: { code: -32602, message: BAD_ARGS_MESSAGE } }],
    ['2025-06-18', { error: { code: -32602, message: BAD_ARGS_MESSAGE } }],
    ['2025-11-25', { result: { isError: true, content: [{ type: 'text', text: `[invalid_arguments] ${BAD_ARGS_MESSAGE}` }] } }],
  ])('%s -> %j, no token minted', async (version, expected) => {
    const wire = await legacySession('alice', version);
    try {
      const exchanges = env.demo.stats.tokenExchanges;
      const res = await wire.request(1, 'tools/call', BAD_ARGS);
      expect(res).toEqual({ jsonrpc: '2.0', id: 1, ...expected });
      expect(env.demo.stats.tokenExchanges).toBe(exchanges);
    } finally {
      await wire.close();
    }
  });

  it('2026-07-28 -> a tool error result', async () => {
    const wire = startWire('alice');
    try {
      const res = await wire.request(1, 'tools/call', { ...BAD_ARGS, _meta: envelope });
      expect(res.result).toMatchObject({ isError: true, content: [{ type: 'text', text: `[invalid_arguments] ${BAD_ARGS_MESSAGE}` }] });
      expect(res.result._meta?.['io.modelcontextprotocol/serverInfo']).toMatchObject({ name: 'xaa-gateway' });
    } finally {
      await wire.close();
    }
  });
});

describe('the agent in the audit record is the client that made the call', () => {
  it.each([
    ['2025-11-25 (initialize)', 'legacy', { name: 'stdio-wire-test', version: '1.0.0' }],
    ['2026-07-28 (the request envelope)', 'modern', { name: 'stdio-wire-test', version: '2.0.0' }],
  ])('%s', async (_, era, agent) => {
    const wire = era === 'legacy' ? await legacySession('alice', '2025-11-25') : startWire('alice');
    const args = { name: 'calendar_free_slots', arguments: { date: '2026-12-03' } };
    try {
      const res = await wire.request(7, 'tools/call', era === 'legacy' ? args : { ...args, _meta: envelope });
      expect(res.result.isError ?? false).toBe(false);
    } finally {
      await wire.close();
    }
    const decisions = (await env.audit()).filter((r) => r.phase === 'decision' && r.tool === 'calendar_free_slots' && r.agent?.version === agent.version);
    expect(decisions.at(-1)?.agent).toEqual(agent);
  });
});

describe('upstream MCP tools validate arguments against the schema they advertise', () => {
  it.each([
    [{ customerId: 1001 }, 'invalid arguments for tool "crmmcp_lookup_customer": /customerId must be string'],
    [{}, 'invalid arguments for tool "crmmcp_lookup_customer": /customerId is required'],
    [{ customerId: '' }, 'invalid arguments for tool "crmmcp_lookup_customer": /customerId must NOT have fewer than 1 characters'],
  ])('%j -> a tool error, nothing sent to the upstream', async (args, message) => {
    const wire = await legacySession('alice', '2025-11-25');
    try {
      await wire.request(10, 'tools/list'); // the upstream's list is fetched (and cached) here
      const calls = env.demo.stats.apiCalls.crm;
      const res = await wire.request(11, 'tools/call', { name: 'crmmcp_lookup_customer', arguments: args });
      expect(res.result).toEqual({ isError: true, content: [{ type: 'text', text: `[invalid_arguments] ${message}` }] });
      expect(env.demo.stats.apiCalls.crm).toBe(calls);
    } finally {
      await wire.close();
    }
  });
});

describe('malformed tools/call params -> -32602 naming the field, in both eras', () => {
  const cases = [
    [{ name: 5, arguments: {} }, 'Invalid params: "name" must be a string (got a number)'],
    [{ arguments: {} }, 'Invalid params: "name" must be a string (got nothing)'],
    [{ name: 'calendar_free_slots', arguments: 7 }, 'Invalid params: "arguments" must be an object (got a number)'],
    [{ name: 'calendar_free_slots', arguments: ['2026-12-01'] }, 'Invalid params: "arguments" must be an object (got an array)'],
    [{ name: 'calendar_free_slots', arguments: null }, 'Invalid params: "arguments" must be an object (got null)'],
  ] as const;

  it.each(cases)('2025-11-25: %j', async (params, message) => {
    const wire = await legacySession('alice', '2025-11-25');
    try {
      expect(await wire.request(2, 'tools/call', params)).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32602, message } });
    } finally {
      await wire.close();
    }
  });

  it.each(cases)('2026-07-28: %j', async (params, message) => {
    const wire = startWire('alice');
    try {
      expect(await wire.request(2, 'tools/call', { ...params, _meta: envelope })).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32602, message } });
    } finally {
      await wire.close();
    }
  });

  it('an unknown tool -> -32602 whose message carries no "MCP error" prefix', async () => {
    const wire = await legacySession('alice', '2025-11-25');
    try {
      expect(await wire.request(3, 'tools/call', { name: 'no_such_tool', arguments: {} })).toEqual({
        jsonrpc: '2.0',
        id: 3,
        error: { code: -32602, message: 'unknown tool "no_such_tool"; call tools/list for the tools this gateway offers' },
      });
    } finally {
      await wire.close();
    }
  });
});

describe('the stdio transport survives bad input', () => {
  it.each([
    ['not JSON', 'this is not json\n', { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the line is not valid JSON' } }],
    [
      'a JSON value that is not a message',
      '{"hello":"world"}\n',
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message' } },
    ],
    [
      'a batch',
      '[{"jsonrpc":"2.0","id":9,"method":"ping"}]\n',
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: JSON-RPC batches are not supported over stdio' } },
    ],
  ])('%s -> error, and the session goes on', async (_, line, expected) => {
    const wire = await legacySession('alice', '2025-11-25');
    try {
      wire.sendRaw(line);
      expect(await wire.next((m) => 'error' in m && m.id === null)).toEqual(expected);
      expect((await wire.request(4, 'tools/list')).result.tools.length).toBeGreaterThan(0);
      expect(wire.exited()).toBe(false);
    } finally {
      await wire.close();
    }
  });

  it('a message over server.maxBodyBytes (default 1 MiB) -> -32600 to its request id; the gateway stays up', async () => {
    const wire = await legacySession('alice', '2025-11-25');
    try {
      const calls = env.demo.stats.apiCalls.calendar;
      // SDK clients write "id" last; 11 MiB would have ended the gateway before (SDK transport limit 10 MiB).
      const huge = `{"method":"tools/call","params":{"name":"calendar_free_slots","arguments":{"date":"2026-12-01","pad":"${'x'.repeat(11 * 1024 * 1024)}"}},"jsonrpc":"2.0","id":5}\n`;
      for (let i = 0; i < huge.length; i += 1 << 20) wire.sendRaw(huge.slice(i, i + (1 << 20)));
      const res = await wire.next((m) => m.id === 5, 30_000);
      expect(res).toEqual({
        jsonrpc: '2.0',
        id: 5,
        error: {
          code: -32600,
          message: `Invalid Request: message of ${huge.length - 1} bytes is over the limit of 1048576 bytes (server.maxBodyBytes); it was not processed`,
        },
      });
      expect(env.demo.stats.apiCalls.calendar).toBe(calls);
      const ok = await wire.request(6, 'tools/call', { name: 'calendar_free_slots', arguments: { date: '2026-12-01' } });
      expect(ok.result.isError ?? false).toBe(false);
      expect(wire.exited()).toBe(false);
    } finally {
      await wire.close();
    }
  });

  it('stdin closing ends the gateway', async () => {
    const wire = await legacySession('alice', '2025-11-25');
    await wire.close();
    expect(wire.exited()).toBe(true);
  });
});

describe('signing in while the gateway runs', () => {
  it('sends tools/list_changed, and the upstream tools appear', async () => {
    rmSync(env.credentials('alice')); // signed out; `xaa-gateway login` runs below, in "another terminal"
    const wire = await legacySession('alice', '2025-11-25');
    try {
      const before = (await wire.request(7, 'tools/list')).result.tools.map((t: { name: string }) => t.name);
      expect(before).not.toContain('crmmcp_lookup_customer'); // upstream tools need the user's token
      await env.signIn('alice', 'alice-demo-pass');
      expect(await wire.next((m) => m.method === 'notifications/tools/list_changed')).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
      const after = (await wire.request(8, 'tools/list')).result.tools.map((t: { name: string }) => t.name);
      expect(after).toContain('crmmcp_lookup_customer');
    } finally {
      await wire.close();
    }
  });

  it('not signed in: the tool error says to run `xaa-gateway login` (the stdio hint)', async () => {
    const wire = await legacySession('nobody', '2025-11-25');
    try {
      const res = await wire.request(9, 'tools/call', { name: 'calendar_free_slots', arguments: { date: '2026-12-01' } });
      expect(res.result).toEqual({
        isError: true,
        content: [{ type: 'text', text: '[not_signed_in] not signed in: run `xaa-gateway login` in a terminal, then call the tool again' }],
      });
    } finally {
      await wire.close();
    }
  });
});
