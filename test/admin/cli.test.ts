import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminCli } from '../../src/admin/cli.js';
import { silentLogger } from '../../src/log.js';
import { runServe } from '../../src/server/serve.js';
import type { HttpServer } from '../../src/server/http.js';
import { BIN, startEnv, type Env } from '../../tools/testkit/env.js';
import { serverSection } from '../server/http/harness.js';

/**
 * `xaa-gateway admin ...` against a gateway started by runServe (the wiring of `xaa-gateway serve`),
 * with the admin token from XAA_ADMIN_TOKEN: tables, --json, and errors that name the fix.
 */

const TOKEN = randomBytes(32).toString('base64url');
let env: Env;
let server: HttpServer;
let url: string;

beforeAll(async () => {
  process.env.XAA_ADMIN_TOKEN = TOKEN;
  env = await startEnv();
  env.writeConfig((c) => {
    c.server = { ...serverSection('http://127.0.0.1:9', env.dir), dataDir: join(env.dir, 'store') };
    c.admin = { tokens: [{ env: 'XAA_ADMIN_TOKEN' }] };
  });
  server = await runServe({ configPath: env.configPath, port: 0, host: '127.0.0.1', handleSignals: false, logger: silentLogger });
  url = server.listenUrl;
});
afterAll(async () => {
  // The worker runs other test files next (isolate: false): the real variable the CLI reads goes.
  delete process.env.XAA_ADMIN_TOKEN;
  await server?.shutdown('test done');
  await env?.close();
});

async function cli(args: string[], envOverride: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAdminCli(['--url', url, ...args], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    env: { XAA_ADMIN_TOKEN: TOKEN, ...envOverride },
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** A loopback URL nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** Every line of an aligned table has its columns starting at the header's offsets. */
function columnsAligned(table: string, headers: string[]): boolean {
  const lines = table.split('\n');
  const offsets = headers.map((h) => lines[0]!.indexOf(h));
  return offsets.every((o) => o >= 0) && lines.slice(1).every((l) => offsets.slice(1).every((o) => l[o - 1] === ' ' && l[o - 2] === ' ' && l[o] !== ' '));
}

describe('xaa-gateway admin', () => {
  it('tools list: an aligned table; --json: the same data as JSON', async () => {
    const t = await cli(['tools', 'list']);
    expect(t.code).toBe(0);
    expect(t.stdout.split('\n')[0]).toMatch(/^NAME +RESOURCE +SCOPES +METHOD +URL +ENABLED$/);
    expect(t.stdout).toMatch(/^calendar_free_slots +calendar +calendar\.read +GET +http:\/\/127\.0\.0\.1:\d+\/api\/free-slots +true$/m);
    expect(columnsAligned(t.stdout, ['NAME', 'RESOURCE', 'SCOPES', 'METHOD', 'URL', 'ENABLED'])).toBe(true);
    const j = await cli(['--json', 'tools', 'list']);
    expect(JSON.parse(j.stdout).map((x: { name: string }) => x.name)).toEqual(
      t.stdout
        .split('\n')
        .slice(1)
        .map((l) => l.split(' ')[0]),
    );
  });

  it('tools set --file creates, then replaces; get prints it; delete removes it', async () => {
    const file = join(env.dir, 'tool.json');
    const tool = {
      name: 'cli_tool',
      description: 'from the CLI',
      resource: 'calendar',
      scopes: ['calendar.read'],
      http: { method: 'GET', url: `${env.demo.urls.calendar}/api/free-slots` },
    };
    writeFileSync(file, JSON.stringify(tool));
    expect((await cli(['tools', 'set', '--file', file])).stdout).toMatch(
      /^created tool "cli_tool"; in force now and written to mcp.config.json \(version [0-9a-f]{12}\)$/,
    );
    writeFileSync(file, JSON.stringify({ ...tool, scopes: ['calendar.read', 'calendar.write'] }));
    expect((await cli(['tools', 'set', '--file', file])).stdout).toMatch(/^replaced tool "cli_tool"/);
    expect(JSON.parse((await cli(['tools', 'get', 'cli_tool'])).stdout).scopes).toEqual(['calendar.read', 'calendar.write']);
    expect((await cli(['tools', 'delete', 'cli_tool'])).stdout).toMatch(/^deleted tool "cli_tool"/);
    const gone = await cli(['tools', 'get', 'cli_tool']);
    expect(gone).toMatchObject({ code: 1, stderr: 'xaa-gateway admin: not found: no tool named "cli_tool" in mcp.config.json' });
  });

  it('an invalid file: the error lists each JSON path', async () => {
    const file = join(env.dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ name: 'bad_tool', description: 'x', resource: 'nowhere', scopes: ['a b'], http: { method: 'GET', url: 'http://127.0.0.1:1/x' } }),
    );
    const r = await cli(['tools', 'set', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^xaa-gateway admin: invalid:\n {2}tools\[\d+\]\.scopes\[0\]: /);
  });

  it('switches set, list (table and JSON), lift; resources and upstreams list', async () => {
    const set = await cli(['switches', 'set', 'connection', 'agent-x', 'calendar', '--reason', 'suspicious']);
    expect(set.stdout).toBe('kill switch connection "agent-x" -> "calendar" is set; revoked 0 session(s), 0 refresh token(s), 0 cached downstream token(s)');
    await cli(['switches', 'set', 'all', '--reason', 'incident 42']);
    const list = await cli(['switches', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^KIND +TARGET +REASON +BY +SINCE$/);
    expect(list.stdout).toMatch(/^connection +agent-x -> calendar +suspicious +admin token +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect(list.stdout).toMatch(/^all +\* +incident 42 +admin token/m);
    expect(columnsAligned(list.stdout, ['KIND', 'TARGET', 'REASON', 'BY', 'SINCE'])).toBe(true);
    const json = JSON.parse((await cli(['--json', 'switches', 'list'])).stdout);
    expect(json.map((s: { switch: { kind: string } }) => s.switch.kind)).toEqual(['connection', 'all']);
    expect((await cli(['switches', 'lift', 'all'])).stdout).toBe('kill switch all (read-only mode) lifted');
    expect((await cli(['switches', 'lift', 'connection', 'agent-x', 'calendar'])).code).toBe(0);
    expect((await cli(['switches', 'list'])).stdout).toBe('no kill switch is set');
    expect(await cli(['switches', 'lift', 'all'])).toMatchObject({
      code: 1,
      stderr: 'xaa-gateway admin: not found: kill switch all (read-only mode) is not set',
    });
    expect(await cli(['switches', 'set', 'connection', 'agent-x'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('usage: switches set|lift connection <clientId> <resource>'),
    });

    expect((await cli(['resources', 'list'])).stdout.split('\n')[0]).toMatch(/^NAME +RESOURCE +AUTHORIZATION SERVER +CLIENT +AUTH +ENABLED$/);
    expect((await cli(['upstreams', 'list'])).stdout).toMatch(/^crm-mcp +http:\/\/127\.0\.0\.1:\d+\/mcp +crmmcp_ +crm\.read +true$/m);
    expect((await cli(['sessions', 'list'])).stdout).toBe('nobody is signed in');
  });

  it.each([
    ['a wrong token', { XAA_ADMIN_TOKEN: 'w'.repeat(40) }, [], 1, /refused the admin token[\s\S]*fix: set XAA_ADMIN_TOKEN/],
    ['no token', { XAA_ADMIN_TOKEN: undefined }, [], 2, /no admin token: set XAA_ADMIN_TOKEN/],
    [
      'an unreachable gateway',
      {},
      ['--url', 'CLOSED'],
      1,
      /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is `xaa-gateway serve` running there\?/,
    ],
  ] as const)('%s: exit code and a message naming the fix', async (_label, envOverride, extra, code, message) => {
    const args = extra.length ? ['--url', await closedPortUrl()] : [];
    const r = await cli([...args, 'tools', 'list'], envOverride);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('the real binary reads XAA_ADMIN_TOKEN and prints the table', async () => {
    const child = spawn(process.execPath, [BIN, 'admin', '--url', url, 'tools', 'list'], {
      env: { ...process.env, XAA_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^NAME +RESOURCE/);
  });
});
