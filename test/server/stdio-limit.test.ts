import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { runStdio } from '../../src/server/stdio/index.js';
import { LineTransport } from '../../src/server/stdio/transport.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

/**
 * stdio.maxConcurrentToolCalls: tools/call requests in progress on one stdio connection are bounded;
 * one more is answered at once with a JSON-RPC error naming the limit and its config key (never a hang).
 */

const BUSY = (limit: number) =>
  `Server busy: ${limit} tools/call requests are already in progress on this connection (limit: stdio.maxConcurrentToolCalls in the gateway's config); call again when one has finished`;

/** The transport alone: what reaches the server, and what the client reads. */
function wire(limit: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const out: any[] = [];
  stdout.on('data', (d: Buffer) =>
    out.push(
      ...d
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ),
  );
  const t = new LineTransport({ stdin, stdout, maxMessageBytes: () => 1 << 20, maxToolCalls: () => limit });
  const received: JSONRPCMessage[] = [];
  t.onmessage = (m) => received.push(m);
  void t.start();
  const send = (m: unknown) => new Promise<void>((r) => stdin.write(JSON.stringify(m) + '\n', () => setImmediate(r)));
  const call = (id: number | string) => send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x', arguments: {} } });
  const answer = (id: number | string) => t.send({ jsonrpc: '2.0', id, result: { content: [] } } as JSONRPCMessage);
  return { t, out, received, send, call, answer };
}

describe('LineTransport: tools/call in progress are bounded', () => {
  it('the call over the limit gets -32000 naming stdio.maxConcurrentToolCalls, and never reaches the server', async () => {
    const w = wire(2);
    await w.call(1);
    await w.call('two');
    await w.call(3);
    expect(w.received.map((m) => (m as { id: unknown }).id)).toEqual([1, 'two']);
    expect(w.out).toEqual([{ jsonrpc: '2.0', id: 3, error: { code: -32000, message: BUSY(2) } }]);
    await w.t.close();
  });

  const table: Array<[string, (w: ReturnType<typeof wire>) => Promise<void>]> = [
    ['a result frees a slot', (w) => w.answer(1)],
    ['an error response frees a slot', (w) => w.t.send({ jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'bad' } } as JSONRPCMessage)],
    [
      'a cancellation frees a slot (a cancelled request gets no answer)',
      (w) => w.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }),
    ],
  ];
  it.each(table)('%s', async (_label, free) => {
    const w = wire(1);
    await w.call(1);
    await w.call(2);
    expect(w.out.at(-1)).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32000, message: BUSY(1) } });
    await free(w);
    await w.call(3);
    expect(w.received.map((m) => (m as { id?: unknown }).id).filter((id) => id !== undefined)).toEqual([1, 3]);
    await w.t.close();
  });

  it('other requests are not counted', async () => {
    const w = wire(1);
    await w.call(1);
    await w.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await w.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
    expect(w.received.map((m) => (m as { id: unknown }).id)).toEqual([1, 2, 3]);
    expect(w.out).toEqual([]);
    await w.t.close();
  });
});

describe('xaa-gateway stdio with stdio.maxConcurrentToolCalls', () => {
  let env: Env;
  let saas: Server;
  const held: ServerResponse[] = [];
  let arrived: () => void = () => {};

  beforeAll(async () => {
    env = await startEnv();
    await env.signIn('alice', 'alice-demo-pass');
    // A SaaS endpoint that answers only when told.
    saas = createServer((_req, res) => {
      held.push(res);
      arrived();
    });
    await new Promise<void>((r) => saas.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(saas.address() as AddressInfo).port}/api/free-slots`;
    env.writeConfig((c) => {
      c.stdio = { maxConcurrentToolCalls: 1 };
      const cal = c.tools!.find((t) => t.name === 'calendar_free_slots')!;
      c.tools!.push({ ...cal, name: 'slow_free_slots', http: { method: 'GET', url } });
    });
  });
  afterAll(async () => {
    for (const r of held.splice(0)) r.end();
    await new Promise<void>((r) => (saas ? saas.close(() => r()) : r()));
    await env?.close();
  });

  it('a second call while one is in progress is refused at once; the first completes', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const seen: any[] = [];
    const watchers = new Set<() => void>();
    let buffer = '';
    stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        seen.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
      for (const w of watchers) w();
    });
    const reply = (id: number) =>
      new Promise<any>((resolve) => {
        const check = () => {
          const m = seen.find((x) => x.id === id);
          if (!m) return;
          watchers.delete(check);
          resolve(m);
        };
        watchers.add(check);
        check();
      });
    const send = (m: unknown) => stdin.write(JSON.stringify(m) + '\n');
    const done = runStdio({ configPath: env.configPath, credentialsPath: env.credentials('alice'), logger: silentLogger, stdin, stdout });
    try {
      send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'stdio-limit-test', version: '1' } },
      });
      await reply(0);
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const atSaas = new Promise<void>((r) => (arrived = r));
      send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow_free_slots', arguments: { date: '2026-03-01' } } });
      await atSaas;
      send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow_free_slots', arguments: { date: '2026-03-02' } } });
      expect(await reply(2)).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32000, message: BUSY(1) } });
      held.shift()!.writeHead(200, { 'Content-Type': 'application/json' }).end('{"slots":[]}');
      const first = await reply(1);
      expect(first.result.isError ?? false).toBe(false);
      expect(held).toHaveLength(0);
    } finally {
      stdin.end();
      await done;
    }
  });
});
