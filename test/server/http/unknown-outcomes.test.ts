import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog, verifyAuditDir } from '../../../src/audit/index.js';
import { defaultDeps } from '../../../src/deps.js';
import { startEnv, type Env } from '../../../tools/testkit/env.js';
import { freePort, startServedGateway, writeServeConfig, type ServedGateway } from './served-gateway.js';

/**
 * `serve` started on an audit directory whose last call has a decision and no outcome (the previous
 * run was killed mid-call) records that call's outcome as unknown before it serves, and says so.
 */
describe('serve after a crash mid-call', () => {
  let env: Env;
  let gw: ServedGateway | undefined;

  beforeAll(async () => {
    env = await startEnv();
    writeServeConfig(env, await freePort());
  });
  afterAll(async () => {
    await gw?.stop();
    await env?.close();
  });

  it('writes an "outcome unknown" record for the decision left without outcome, and logs it', async () => {
    // The previous run of this instance (XAA_INSTANCE_ID gw-1): its own chain.
    const crashed = await openAuditLog(env.auditDir, defaultDeps, { instance: 'gw-1' });
    const call = {
      type: 'tool_call',
      traceId: 'crashed-call',
      user: { iss: env.demo.urls.idp, sub: 'u-alice' },
      agent: { clientId: 'agent-x', name: 'Agent X' },
      tool: 'calendar_free_slots',
      resource: 'calendar',
    };
    await crashed.append({ ...call, phase: 'decision', decision: 'allow', reason: 'allowed', downstream: { method: 'GET', url: 'http://127.0.0.1:1/slots' } });
    await crashed.close();

    gw = await startServedGateway(env, { port: await freePort(), instance: 'gw-1' });
    const records = (await env.audit()).filter((r) => r.traceId === 'crashed-call');
    expect(records.map((r) => [r.phase, r.outcome])).toEqual([
      ['decision', undefined],
      ['outcome', { ok: false, error: 'outcome_unknown' }],
    ]);
    expect(records[1]).toMatchObject({
      user: call.user,
      agent: call.agent,
      tool: call.tool,
      downstream: { method: 'GET', url: 'http://127.0.0.1:1/slots' },
      decisionSeq: records[0]!.seq,
    });
    const warning = gw
      .stderr()
      .split('\n')
      .find((l) => l.includes('outcome unknown'));
    expect(warning, gw.stderr()).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 'warn', calls: 1, traceIds: ['crashed-call'] });
    expect(await gw.stop()).toBe(0);
    gw = undefined;
    expect(await verifyAuditDir(env.auditDir, { keys: await env.auditKeys() })).toMatchObject({ ok: true });
  });
});
