import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/log.js';
import { openStdioGateway } from '../../src/server/stdio/gateway.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { heldHttp } from '../../tools/testkit/held-http.js';

/**
 * One stdio gateway serving several connections, as the shared host does (share/host.ts): a client
 * that leaves while its call waits for the SaaS does not lose the call's outcome record, and the
 * gateway goes on serving the others.
 */

let env: Env;
beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

function connection(gw: Awaited<ReturnType<typeof openStdioGateway>>) {
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: any[] = [];
  output.on('data', (d: Buffer) =>
    lines.push(
      ...d
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ),
  );
  const conn = gw.connect(input, output);
  const send = (m: unknown) => input.write(`${JSON.stringify(m)}\n`);
  const answer = async (id: number) => {
    for (let i = 0; i < 1000; i++) {
      const m = lines.find((l) => l.id === id);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no answer to ${id}`);
  };
  return { input, lines, conn, send, answer };
}

const init = (name: string) => ({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name, version: '1' } },
});
const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'expenses_pending_approvals', arguments: {} } });

describe('a stdio gateway with several connections', () => {
  it('a client leaving mid-call: its call gets its outcome record, nothing is written to it, the other client is served', async () => {
    const held = heldHttp({ held: false });
    const gw = await openStdioGateway({
      configPath: env.configPath,
      credentialsPath: env.credentials('alice'),
      deps: { ...defaultDeps, http: held.http },
      logger: silentLogger,
    });
    try {
      const leaving = connection(gw);
      leaving.send(init('leaving-client'));
      await leaving.answer(0);
      held.hold();
      leaving.send(call(1));
      await held.untilSent();
      leaving.input.end();
      await leaving.conn.closed;
      held.release();

      const staying = connection(gw);
      staying.send(init('staying-client'));
      await staying.answer(0);
      staying.send(call(2));
      expect((await staying.answer(2)).result.isError ?? false).toBe(false);

      const records = (await env.audit()).filter((r) => r.agent?.name === 'leaving-client');
      expect(records.map((r) => [r.phase, r.outcome?.ok])).toEqual([
        ['decision', undefined],
        ['outcome', true],
      ]);
      expect(leaving.lines.map((l) => l.id)).toEqual([0]);
    } finally {
      await gw.close();
    }
  });
});
