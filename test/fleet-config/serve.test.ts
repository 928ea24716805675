/**
 * `serve` wiring: with DATABASE_URL the start log names the config source and revision, /readyz
 * reports the LISTEN connection, /metrics exports it; a second instance on the same schema starts
 * with the store's config, not its file's.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { runServe } from '../../src/server/serve.js';
import { databaseUrl, dropSchema, fleetConfigJson, newSchema, skipPostgres, tempConfig } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** GET with the Host of publicUrl (the gateway checks Host against it). */
function get(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function recorder(): { lines: Array<{ msg: string; fields?: Record<string, unknown> }>; logger: Logger } {
  const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const at = (msg: string, fields?: Record<string, unknown>) => void lines.push({ msg, ...(fields ? { fields } : {}) });
  return { lines, logger: { debug: at, info: at, warn: at, error: at } };
}

describe.skipIf(skipPostgres)('serve with DATABASE_URL', () => {
  it('logs the source and revision; /readyz and /metrics report the LISTEN connection; the second instance says the store is the source', async () => {
    const schema = newSchema('serve_fleet');
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig(fleetConfigJson(['from_a']));
    const fileB = await tempConfig(fleetConfigJson(['from_b']));
    cleanups.push(fileA.close, fileB.close);
    const logA = recorder();
    const a = await runServe({ configPath: fileA.path, port: 0, databaseUrl, storeSchema: schema, logger: logA.logger, handleSignals: false });
    cleanups.push(() => a.shutdown());
    const logB = recorder();
    const b = await runServe({ configPath: fileB.path, port: 0, databaseUrl, storeSchema: schema, logger: logB.logger, handleSignals: false });
    cleanups.push(() => b.shutdown());

    expect(logA.lines.find((l) => l.msg.startsWith('xaa-gateway serving'))?.fields).toMatchObject({ configSource: 'store', configRevision: 1 });
    expect(logB.lines.find((l) => l.msg.startsWith('config: tools, resources and upstreams in force come from the shared store'))?.fields).toMatchObject({
      source: 'store',
      revision: 1,
    });
    expect(logB.lines.find((l) => l.msg.startsWith('xaa-gateway serving'))?.fields).toMatchObject({ configSource: 'store', configRevision: 1 });

    const host = '127.0.0.1:4399';
    const ready = await get(`${b.listenUrl}/readyz`, host);
    expect(JSON.parse(ready.body)).toMatchObject({ checks: { notifications: 'ok', store: 'ok' } });
    const metrics = await get(`${b.listenUrl}/metrics`, host);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^xaa_store_listen_up 1$/m);
    expect(metrics.body).toMatch(/^xaa_store_listen_reconnects_total 0$/m);
  });
});
