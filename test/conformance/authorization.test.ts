/**
 * Runs `conformance authorization` of @modelcontextprotocol/conformance (both of its scenarios:
 * authorization-server-metadata-endpoint and authorization-code-grant) against the authorization
 * server of a real `xaa-gateway serve` on the demo enterprise.
 *
 * The code grant scenario prints an authorization URL for a person to open and waits for the
 * redirect on its own callback server (http://127.0.0.1:<port>/callback). Here the person is
 * scripted: the test opens the URL, signs in at the demo IdP's login form, allows on the gateway's
 * consent page, and follows the redirect to the suite's callback. Nothing in the product is
 * bypassed: the client is an ordinary pre-registered one in the config, with a loopback redirect
 * URI whose port may vary (RFC 8252 §7.3).
 *
 * The CLI needs Node 22+ (fs.globSync), so it runs under the `node@24` npm package. With `-o <dir>`
 * it writes <dir>/<scenario>-<timestamp>/checks.json per scenario; every non-INFO check must be SUCCESS.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, startEnv, type Env } from '../../tools/testkit/env.js';
import { spawnServe, type SpawnedServe } from '../../tools/testkit/serve.js';
import { completeDemoLogin } from '../../tools/demo/index.js';
import { Browser, hidden, password } from '../inbound/http/as-harness.js';

const CLIENT_ID = 'conformance-as';
const SCENARIOS = ['authorization-server-metadata-endpoint', 'authorization-code-grant'];
const REQUIRED = ['authorization-server-metadata', 'authorization-server-metadata-cimd', 'authorization-code-grant'];

interface Check {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED' | string;
  description: string;
  errorMessage?: string;
}

/** A port the OS says is free now (the suite's callback server and the gateway take a port number). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * The person at the browser: opens the authorization URL, signs in at the IdP as alice, allows on the
 * consent page, and returns where the gateway sends the browser back (the suite's callback URL).
 */
async function signInAsAlice(authorizationUrl: string, issuer: string): Promise<string> {
  const browser = new Browser();
  const start = await browser.get(authorizationUrl);
  if (start.status !== 302) throw new Error(`/authorize answered ${start.status}: ${await start.text()}`);
  const callback = await completeDemoLogin(start.headers.get('location')!, 'alice', password('alice'));
  const back = await browser.get(callback);
  const location = back.headers.get('location') ?? '';
  if (back.status === 302) return location; // consented before
  if (back.status !== 303 || !location.startsWith('/oauth/consent')) throw new Error(`IdP callback answered ${back.status}: ${await back.text()}`);
  const page = await browser.get(new URL(location, issuer));
  const html = await page.text();
  const allow = await browser.postForm(
    `${issuer}/oauth/consent`,
    { request_id: hidden(html, 'request_id'), csrf: hidden(html, 'csrf'), decision: 'allow' },
    { Origin: issuer },
  );
  if (allow.status !== 303) throw new Error(`consent answered ${allow.status}: ${await allow.text()}`);
  return allow.headers.get('location')!;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The redirect the scripted user landed on, as the suite's callback server received it. */
  redirects: string[];
}

function runSuite(issuer: string, callbackPort: number, outDir: string): Promise<Run> {
  const args = [
    '-y',
    '-p',
    'node@24',
    'node',
    'node_modules/@modelcontextprotocol/conformance/dist/index.js',
    'authorization',
    '--url',
    issuer,
    '--client-id',
    CLIENT_ID,
    '--resource',
    `${issuer}/mcp`,
    '--port',
    String(callbackPort),
    '-o',
    outDir,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('npx', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, stdout: '', stderr: '', redirects: [] };
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    let userDone: Promise<void> = Promise.resolve();
    child.stdout.on('data', (d: Buffer) => {
      run.stdout += d.toString();
      // The scenario prints the URL to open, then waits for its callback.
      const m = new RegExp(`^(${issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/authorize\\?\\S+)$`, 'm').exec(run.stdout);
      if (m && run.redirects.length === 0) {
        run.redirects.push('pending');
        userDone = signInAsAlice(m[1]!, issuer).then(async (redirect) => {
          run.redirects[0] = redirect;
          await fetch(redirect); // the browser lands on the suite's callback server
        });
        userDone.catch((e) => {
          run.stderr += `\nscripted sign-in failed: ${(e as Error).message}`;
          child.kill('SIGTERM');
        });
      }
    });
    child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      run.code = code;
      void userDone.catch(() => undefined).finally(() => resolve(run));
    });
  });
}

function checksOf(outDir: string): Map<string, Check[]> {
  const byScenario = new Map<string, Check[]>();
  for (const p of readdirSync(outDir, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('checks.json'))) {
    const scenario = SCENARIOS.find((s) => p.includes(s));
    if (scenario) byScenario.set(scenario, JSON.parse(readFileSync(join(outDir, p), 'utf8')) as Check[]);
  }
  return byScenario;
}

let env: Env;
let gateway: SpawnedServe;
let issuer: string;
const outDir = mkdtempSync(join(tmpdir(), 'xaa-conformance-as-'));

beforeAll(async () => {
  env = await startEnv();
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const keyFile = join(env.dir, 'encryption.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64'));
  env.writeConfig((c) => {
    c.server = {
      publicUrl: issuer,
      port,
      encryptionKey: { file: keyFile },
      dataDir: join(env.dir, 'store'),
      clientIdMetadataDocuments: true,
      // The suite's client: pre-registered by the administrator, public (PKCE), loopback redirect.
      clients: [{ clientId: CLIENT_ID, clientName: 'MCP conformance suite', redirectUris: ['http://127.0.0.1/callback'] }],
    };
  });
  // Start-up includes the embedded store's first open, slow on a busy machine: a generous bound.
  gateway = await spawnServe({ command: [process.execPath, BIN], configPath: env.configPath, port, cwd: env.dir, startTimeoutMs: 90_000 });
});

afterAll(async () => {
  await gateway?.stop();
  await env?.close();
  rmSync(outDir, { recursive: true, force: true });
});

describe('conformance authorization (the gateway as an authorization server)', () => {
  it('passes every check of both scenarios', { timeout: 180_000 }, async () => {
    const run = await runSuite(issuer, await freePort(), outDir);
    const byScenario = checksOf(outDir);
    expect([...byScenario.keys()].sort(), `checks.json per scenario (exit ${run.code})\n${run.stdout}\n${run.stderr}`).toEqual([...SCENARIOS].sort());
    const checks = [...byScenario.values()].flat();
    const judged = checks.filter((c) => c.status !== 'INFO');
    const bad = judged.filter((c) => c.status !== 'SUCCESS');
    if (bad.length) console.error(`suite stdout:\n${run.stdout}\nsuite stderr:\n${run.stderr}\ngateway stderr:\n${gateway.stderr()}`);
    expect(bad.map((c) => `${c.id}: ${c.status}: ${c.description}${c.errorMessage ? ` (${c.errorMessage})` : ''}`)).toEqual([]);
    for (const id of REQUIRED)
      expect(
        judged.some((c) => c.id === id && c.status === 'SUCCESS'),
        `check ${id} is SUCCESS`,
      ).toBe(true);

    // The redirect the suite validated carries the code, its state and the gateway's issuer (RFC 9207).
    const back = new URL(run.redirects[0]!);
    expect(`${back.origin}${back.pathname}`).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect([...back.searchParams.keys()].sort()).toEqual(['code', 'iss', 'state']);
    expect(back.searchParams.get('iss')).toBe(issuer);
    expect(run.code, `conformance CLI exit code\n${run.stderr}`).toBe(0);
  });
});
