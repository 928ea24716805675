/**
 * LISTEN that heals (issue 7, point 4): PostgreSQL drops an instance's LISTEN connection
 * (pg_terminate_backend, as an operator, a failover or a pooler would); it is re-opened with
 * backoff, re-reads what changed meanwhile, and kill switches and config edits set on another
 * instance reach it by notification again, with the revision polls turned off. /readyz reports it
 * (degraded, still ready) and so do the metrics.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { applyConfigChange } from '../../src/admin/config-service.js';
import { Metrics } from '../../src/observability/metrics.js';
import { readiness } from '../../src/server/http/health.js';
import { callTool, dropSchema, median, newSchema, skipPostgres, startInstance, tempConfig, terminateBackend, type Instance } from './helpers.js';

const admin = { kind: 'admin' as const, via: 'token' as const };
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function pair(listenB: { baseDelayMs: number; maxDelayMs?: number }): Promise<{ a: Instance; b: Instance }> {
  const schema = newSchema('listen_test');
  cleanups.push(() => dropSchema(schema));
  const fileA = await tempConfig();
  const fileB = await tempConfig();
  cleanups.push(fileA.close, fileB.close);
  const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0 });
  cleanups.push(a.close);
  const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0, listen: { pingMs: 0, ...listenB } });
  cleanups.push(b.close);
  return { a, b };
}

/** Terminates B's LISTEN connection (by its backend pid: other test files' connections stay) and waits until it is seen down. */
async function killListen(i: Instance): Promise<void> {
  const before = i.store.listenStatus!()!;
  expect(before).toMatchObject({ up: true, channels: 2 }); // kill switches and fleet config on one connection
  expect(await terminateBackend(before.pid!)).toBe(true);
  await expect
    .poll(
      () => {
        const s = i.store.listenStatus!()!;
        return !s.up || s.reconnects > before.reconnects;
      },
      { timeout: 5_000, interval: 2 },
    )
    .toBe(true);
}

const user = (n: number) => ({ iss: 'https://idp.example', sub: `u-heal-${n}` });
const call = (n: number) => ({ user: user(n), clientId: 'agent-1', target: { name: 'cal' } });

describe.skipIf(skipPostgres)('the LISTEN connection heals', () => {
  it('killed 5 times: each time re-opened, and the next kill switch and config edit on A reach B by notification (poll off); measured', async () => {
    const { a, b } = await pair({ baseDelayMs: 50 });
    const switchLatencies: number[] = [];
    const editLatencies: number[] = [];
    for (let n = 0; n < 5; n++) {
      await killListen(b);
      await expect.poll(() => b.store.listenStatus!()!, { timeout: 5_000, interval: 5 }).toMatchObject({ up: true, reconnects: n + 1 });

      const t0 = performance.now();
      await a.control.setSwitch({ kind: 'user', user: user(n) }, `heal ${n}`, admin);
      await expect.poll(() => b.control.snapshot.find(call(n))?.reason, { timeout: 5_000, interval: 1 }).toBe(`heal ${n}`);
      switchLatencies.push(performance.now() - t0);

      const enabled = n % 2 === 1;
      const t1 = performance.now();
      const r = await applyConfigChange(
        { editor: a.editor, audit: a.audit },
        { actor: admin, kind: 'tools', op: 'patch', name: 'cal_today', body: { enabled }, version: (await a.editor.read()).version },
      );
      await expect.poll(() => b.config.current.fleet?.revision, { timeout: 5_000, interval: 1 }).toBe(r.revision);
      editLatencies.push(performance.now() - t1);
      expect((await callTool(b, 'cal_today')).denied).toBe(!enabled);
    }
    console.log(
      `[fleet] LISTEN killed and healed, poll off: kill switch A -> B median ${median(switchLatencies).toFixed(1)} ms, max ${Math.max(...switchLatencies).toFixed(1)} ms; ` +
        `tool edit A -> in force on B median ${median(editLatencies).toFixed(1)} ms, max ${Math.max(...editLatencies).toFixed(1)} ms (5 each)`,
    );
  });

  it('what changed while it was down is re-read at the heal, not left for the poll; /readyz says degraded but stays ready; the metrics follow', async () => {
    // The first retry comes after 1-2 s: long enough to change things on A while B cannot hear.
    const { a, b } = await pair({ baseDelayMs: 2_000, maxDelayMs: 2_000 });
    const metrics = new Metrics();
    metrics.trackStoreListen(() => b.store.listenStatus?.());
    expect(await metrics.text()).toMatch(/^xaa_store_listen_up 1$/m);
    expect(await metrics.text()).toMatch(/^xaa_store_listen_reconnects_total 0$/m);

    await killListen(b);
    expect(b.store.listenStatus!()!).toMatchObject({ up: false, reconnects: 0, lastError: expect.any(String), downSince: expect.any(Number) });
    const ready = await readiness({ config: b.config, store: b.store, draining: false });
    expect(ready, JSON.stringify(ready)).toMatchObject({ ready: true, checks: { store: 'ok', config: 'ok', audit: 'ok' } });
    expect(ready.checks.notifications).toMatch(/^degraded: LISTEN connection down .*reconnecting; changes from other instances arrive by the poll$/);
    expect(await metrics.text()).toMatch(/^xaa_store_listen_up 0$/m);

    await a.control.setSwitch({ kind: 'user', user: user(99) }, 'set while B was deaf', admin);
    const r = await applyConfigChange(
      { editor: a.editor, audit: a.audit },
      { actor: admin, kind: 'tools', op: 'patch', name: 'cal_today', body: { enabled: false }, version: (await a.editor.read()).version },
    );
    // B cannot know yet: no notification reached it and its poll is off.
    expect(b.store.listenStatus!()!.up).toBe(false);
    expect(b.control.snapshot.find(call(99))).toBeUndefined();
    expect(b.config.current.fleet?.revision).toBe(1);

    // The heal re-reads both revisions once.
    await expect.poll(() => b.control.snapshot.find(call(99))?.reason, { timeout: 8_000, interval: 5 }).toBe('set while B was deaf');
    await expect.poll(() => b.config.current.fleet?.revision, { timeout: 5_000, interval: 5 }).toBe(r.revision);
    expect((await callTool(b, 'cal_today')).denied).toBe(true);
    expect(b.store.listenStatus!()!).toMatchObject({ up: true, reconnects: 1 });
    expect(b.store.listenStatus!()!).not.toHaveProperty('downSince');
    expect((await readiness({ config: b.config, store: b.store, draining: false })).checks.notifications).toBe('ok');
    expect(await metrics.text()).toMatch(/^xaa_store_listen_up 1$/m);
    expect(await metrics.text()).toMatch(/^xaa_store_listen_reconnects_total 1$/m);
  });
});
