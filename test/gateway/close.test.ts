import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, loadConfigFile } from '../../src/config/index.js';
import { defaultDeps, type HttpClient } from '../../src/deps.js';
import { Gateway } from '../../src/gateway/index.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { heldHttp } from '../../tools/testkit/held-http.js';
import { MemorySink } from '../server/http/harness.js';

/**
 * Gateway.close() at shutdown (stdin closed, SIGTERM): a call whose SaaS answer is on its way gets up to
 * `drainMs` to finish, so its outcome is recorded instead of read as "outcome unknown" at the next start.
 */

let env: Env;
let credentialsPath: string;
const agent = { name: 'close-test-agent', version: '0' };

beforeAll(async () => {
  env = await startEnv();
  credentialsPath = await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

function gatewayWith(http: HttpClient, logger: Logger = silentLogger) {
  const config = new ConfigStore(loadConfigFile(env.configPath));
  const sink = new MemorySink();
  const deps = { ...defaultDeps, http };
  const gateway = new Gateway({ config, identity: new LocalIdentity({ credentialsPath, config, deps }), audit: sink, deps, logger });
  return { gateway, sink };
}

const phases = (sink: MemorySink, traceId: unknown) => sink.records.filter((r) => r.traceId === traceId).map((r) => r.phase);

describe('Gateway.close() lets calls in progress finish', () => {
  it('a call whose answer arrives within the bound: close waits for it, and its outcome is recorded', async () => {
    const held = heldHttp();
    const { gateway, sink } = gatewayWith(held.http);
    const call = gateway.callTool({ agent }, 'expenses_pending_approvals', {});
    await held.untilSent();
    const closing = gateway.close(10_000);
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    held.release();
    const result = await call;
    await closing;
    expect(result.isError ?? false).toBe(false);
    const decision = sink.records.find((r) => r.phase === 'decision' && r.tool === 'expenses_pending_approvals');
    expect(phases(sink, decision?.traceId)).toEqual(['decision', 'outcome']);
    expect(sink.records.find((r) => r.phase === 'outcome')).toMatchObject({ outcome: { ok: true } });
  });

  it('a call still waiting after the bound: close returns, says how many, and the decision stays without an outcome', async () => {
    const held = heldHttp();
    const warnings: Array<{ msg: string; fields: unknown }> = [];
    const logger: Logger = { ...silentLogger, warn: (msg: string, fields?: unknown) => void warnings.push({ msg, fields }) };
    const { gateway, sink } = gatewayWith(held.http, logger);
    const call = gateway.callTool({ agent }, 'expenses_pending_approvals', {});
    await held.untilSent();
    await gateway.close(100);
    expect(warnings).toEqual([
      { msg: 'tool calls still in progress at shutdown: their audit records will read "outcome unknown"', fields: { calls: 1, waitedMs: 100 } },
    ]);
    const decision = sink.records.find((r) => r.phase === 'decision');
    expect(phases(sink, decision?.traceId)).toEqual(['decision']);
    held.release();
    await call;
  });

  it('no call in progress: close does not wait', async () => {
    const held = heldHttp();
    const { gateway } = gatewayWith(held.http);
    const t0 = performance.now();
    await gateway.close(60_000);
    // Far below the bound: nothing to wait for (not a speed assertion).
    expect(performance.now() - t0).toBeLessThan(30_000);
  });
});
