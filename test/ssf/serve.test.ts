import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { runServe } from '../../src/server/serve.js';
import { EVENT_TYPES } from '../../src/ssf/index.js';
import { connectSecurityEvents } from '../../tools/demo/ssf-stream.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { serverSection } from '../server/http/harness.js';

/**
 * `xaa-gateway serve` with the demo config's `ssf` section (push from the demo IdP), and the stream
 * `npm start` creates: the receiver is mounted at /ssf/events and acts through the real ControlService.
 */

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(() => env?.close());

describe('serve wiring', () => {
  it('a user deactivated in the demo IdP is disabled by the running gateway (audited), and lifted again', async () => {
    env.writeConfig((c) => (c.server = { ...serverSection('https://mcp.acme.test', env.dir), dataDir: 'data/store' }));
    const http = await runServe({ configPath: env.configPath, port: 0, host: '127.0.0.1', handleSignals: false, logger: silentLogger });
    try {
      const banner = connectSecurityEvents(env.demo, loadConfigFile(env.configPath), http.listenUrl);
      expect(banner[0]).toMatch(/^Security events \(Shared Signals, push\)/);
      expect(env.demo.ssf.streams()).toEqual([
        expect.objectContaining({ aud: 'https://mcp.acme.test', delivery: expect.objectContaining({ endpointUrl: `${http.listenUrl}/ssf/events` }) }),
      ]);

      env.demo.control.setUserActive('alice', false);
      await env.demo.ssf.flush();
      env.demo.control.setUserActive('alice', true);
      await env.demo.ssf.flush();
      expect(env.demo.ssf.deliveries.map((d) => [d.event, d.status])).toEqual([
        [EVENT_TYPES.accountDisabled, 202],
        [EVENT_TYPES.accountEnabled, 202],
      ]);

      // The push endpoint refuses a SET without the stream's token.
      const res = await fetch(`${http.listenUrl}/ssf/events`, { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: 'x.y.z' });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ err: 'authentication_failed' });
    } finally {
      await http.shutdown('test');
    }
    const records = await env.audit();
    expect(records.filter((r) => r.type === 'security_event').map((r) => [r.securityEvent.effect, r.user.sub])).toEqual([
      ['disable_user', 'u-alice'],
      ['enable_user', 'u-alice'],
    ]);
    expect(records.filter((r) => r.type === 'admin_action').map((r) => r.action)).toEqual(['switch.set', 'switch.lift']);
  });
});
