import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runServe } from '../../../src/server/serve.js';
import { BIN, startEnv, type Env } from '../../../tools/testkit/env.js';
import { fetchAsHost, serverSection } from './harness.js';

/** `xaa-gateway serve`: the CLI and its runner, as an operator starts and stops them. */

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(() => env?.close());

function runCli(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, '--config', env.configPath, ...args], {
    env: { ...process.env, XAA_LOG_LEVEL: 'info', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

describe('xaa-gateway serve', () => {
  it('refuses a config without "server", naming server.publicUrl', async () => {
    env.writeConfig((c) => {
      delete c.server;
      delete c.ssf;
    });
    await expect(runServe({ configPath: env.configPath, handleSignals: false })).rejects.toThrow(
      /"server" is missing; `xaa-gateway serve` needs at least server\.publicUrl/,
    );
    const cli = runCli(['serve']);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toMatch(/server\.publicUrl/);
  });

  it('serves /mcp, the metadata and the authorization server; SIGTERM stops it cleanly', async () => {
    const publicUrl = 'https://mcp.acme.test';
    env.writeConfig((c) => (c.server = { ...serverSection(publicUrl, env.dir), dataDir: 'data/store' }));
    // With REDIS_URL (the machine's Redis) rate limits are shared; the connection closes on SIGTERM.
    const redisUrl: Record<string, string> =
      process.env.XAA_SKIP_REDIS === '1' ? {} : { REDIS_URL: process.env.XAA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' };
    const cli = runCli(['serve', '--port', '0', '--host', '127.0.0.1'], redisUrl);
    await expect.poll(() => cli.stdout(), { timeout: 110_000 }).toMatch(/listening on/);
    const m = /^MCP endpoint: (\S+) {2}\(listening on (\S+)\)$/m.exec(cli.stdout())!;
    expect(m[1]).toBe(`${publicUrl}/mcp`);
    const listen = m[2]!;
    expect((await fetch(`${listen}/healthz`)).status).toBe(200);
    const ready = await fetch(`${listen}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { config: 'ok', store: 'ok', audit: 'ok', pages: 'ok' } });
    expect((await (await fetch(`${listen}/.well-known/oauth-protected-resource/mcp`)).json()).resource).toBe(`${publicUrl}/mcp`);
    expect((await (await fetch(`${listen}/.well-known/oauth-authorization-server`)).json()).issuer).toBe(publicUrl);
    // /mcp answers the public host only (DNS rebinding guard): as a reverse proxy forwards it.
    expect((await fetch(`${listen}/mcp`, { method: 'POST' })).status).toBe(403);
    const unauth = await fetchAsHost(new URL(publicUrl).host)(`${listen}/mcp`, { method: 'POST' });
    expect(unauth.status).toBe(401);
    const metadataUrl = `${publicUrl}/.well-known/oauth-protected-resource/mcp`;
    expect(unauth.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools", DPoP algs="ES256 ES384 PS256 RS256 EdDSA", resource_metadata="${metadataUrl}", scope="mcp:tools"`,
    );
    // A rate-limited endpoint answers through the Redis-backed limiter.
    expect(
      (
        await fetch(`${listen}/register`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ redirect_uris: ['https://a.example/cb'] }),
        })
      ).status,
    ).toBe(201);
    // server.dataDir is relative to the config file, like audit.dir.
    expect(existsSync(join(env.dir, 'data/store'))).toBe(true);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).not.toMatch(/redis unavailable/);
    expect(cli.stderr()).toMatch(/^(?=.*"msg":"xaa-gateway stopped")(?=.*"reason":"SIGTERM").*$/m);
  });
});
