import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SECRETS_DIR } from '../../tools/demo/index.js';
import { ROOT, startEnv, type Env } from '../../tools/testkit/env.js';
import { sharedPackage } from '../../tools/testkit/package.js';
import { spawnServe, type SpawnedServe } from '../../tools/testkit/serve.js';
import { Browser } from '../server/http/oauth-client.js';
import { freePort, writeServeConfig } from '../server/http/served-gateway.js';

/**
 * The package as an operator gets it (issue 7, point 5): `npm pack` of the repository, the tarball
 * installed into an empty directory elsewhere, and the installed `xaa-gateway` run from `/`, with
 * no TypeScript loader, no tsconfig, no demo code and no test kit around it. Installing reaches the
 * npm registry (or npm's cache: --prefer-offline) for the dependencies.
 */

const run = promisify(execFile);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string };

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Every source file of the product, as the .js it compiles to. */
function compiledSources(): string[] {
  return walk(join(ROOT, 'src'))
    .map((f) => relative(join(ROOT, 'src'), f).split('\\').join('/'))
    .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => `dist/${f.replace(/\.tsx?$/, '.js')}`)
    .sort();
}

describe('the npm package, installed elsewhere and run from /', () => {
  let work: string;
  let tarball: string;
  let packed: string[];
  /** Where the tarball is installed: <install>/node_modules/xaa-gateway. */
  let install: string;
  let installedBin: string;
  let env: Env;
  let gw: SpawnedServe | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'xaa-package-'));
    ({ tarball, packed, install, bin: installedBin } = await sharedPackage());
    env = await startEnv();
  }, 300_000);

  afterAll(async () => {
    const exit = await gw?.stop();
    await env?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    if (gw) expect(exit, gw.stderr()).toBe(0);
  });

  it('ships the compiled product only: dist/*.js for every source, bin, schema, LICENSE, README', () => {
    expect(packed.filter((f) => !f.startsWith('dist/'))).toEqual(['LICENSE', 'README.md', 'bin/xaa-gateway.js', 'mcp.config.schema.json', 'package.json']);
    expect(packed.filter((f) => f.startsWith('dist/'))).toEqual(compiledSources());
    // No tests, tools (demo, demo secrets, test kits), TypeScript sources, build state or configs.
    for (const f of packed)
      expect(f).not.toMatch(/^(test|tools|src|data)\/|(^|\/)secrets\/|\.tsx?$|tsbuildinfo|build-stamp|tsconfig|mcp\.config\.json$|\.tgz$/);
    expect(statSync(tarball).size).toBeLessThan(1024 * 1024);
  });

  it('carries the Apache-2.0 LICENSE that package.json names, and no demo secret anywhere', () => {
    expect(PKG.license).toBe('Apache-2.0');
    const pkgDir = join(install, 'node_modules', PKG.name);
    const license = readFileSync(join(pkgDir, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s/);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    const secrets = readdirSync(DEMO_SECRETS_DIR)
      .filter((f) => f !== 'README.md')
      .map((f) => readFileSync(join(DEMO_SECRETS_DIR, f), 'utf8').trim())
      .flatMap((v) => (v.startsWith('{') ? Object.values(JSON.parse(v) as Record<string, string>).filter((x) => x.length >= 32) : [v]));
    expect(secrets.length).toBeGreaterThanOrEqual(10);
    const files = walk(pkgDir);
    expect(files.length).toBe(packed.length);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const s of secrets) expect(text.includes(s), `${relative(pkgDir, f)} contains a demo secret`).toBe(false);
    }
  });

  it('installs without a TypeScript loader or compiler among its dependencies', () => {
    for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild']) expect(existsSync(join(install, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(join(install, 'node_modules/hono'))).toBe(true);
  });

  it.each([
    { how: 'npx xaa-gateway, in the installing project', cmd: 'npx', args: ['--no-install', 'xaa-gateway', '--version'], cwd: () => install },
    { how: 'the installed bin, from /', cmd: 'bin', args: ['--version'], cwd: () => '/' },
  ])('--version through $how', async ({ cmd, args, cwd }) => {
    const r = await run(cmd === 'npx' ? (process.platform === 'win32' ? 'npx.cmd' : 'npx') : installedBin, args, { cwd: cwd() });
    expect(r.stdout).toBe(`${PKG.version}\n`);
    expect(r.stderr).toBe('');
  });

  it('config check from / reads the config and every secret it references', async () => {
    const r = await run(installedBin, ['config', 'check', env.configPath], { cwd: '/' });
    expect(r.stdout.split('\n')[0]).toMatch(/^OK: (\S+): 7 tools, 5 resources, 1 upstream MCP servers, \d+ secrets readable; audit log in (\S+)$/);
    expect(r.stdout.startsWith(`OK: ${env.configPath}: `)).toBe(true);
    expect(r.stdout.split('\n')[0]!.endsWith(`; audit log in ${env.auditDir}`)).toBe(true);
    expect(r.stderr).toBe('');
    const bad = await run(installedBin, ['config', 'check', join(work, 'missing.json')], { cwd: '/' }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(join(work, 'missing.json'));
  });

  it('serve from /: /readyz 200 with the pages check, error and consent pages render (200/400 HTML, never 500)', async () => {
    const port = await freePort();
    writeServeConfig(env, port);
    gw = await spawnServe({ command: [installedBin], configPath: env.configPath, port, cwd: '/' });

    const ready = await fetch(`${gw.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { config: 'ok', store: 'ok', audit: 'ok', pages: 'ok' } });

    // A request the gateway's authorization server refuses on its own page (no client to redirect to).
    const refused = await fetch(`${gw.origin}/authorize?response_type=code&client_id=nobody`);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await refused.text()).toMatch(/^<!doctype html><html lang="en">[\s\S]*<h1>/);

    // The sign-in: /authorize -> the IdP's login form -> the gateway's consent page -> the client's redirect URI.
    const redirectUri = 'http://127.0.0.1:9/callback';
    const reg = await fetch(`${gw.origin}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'Package Test Agent', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' }),
    });
    expect(reg.status).toBe(201);
    const { client_id } = (await reg.json()) as { client_id: string };
    const start = new URL('/authorize', gw.origin);
    start.search = new URLSearchParams({
      response_type: 'code',
      client_id,
      redirect_uri: redirectUri,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'package-test',
      resource: gw.mcpUrl,
      scope: 'mcp:tools',
    }).toString();
    const browser = new Browser();
    const pages: string[] = [];
    let consent = '';
    let res = await browser.request(start);
    let url = start;
    for (let hop = 0; hop < 10 && !url.href.startsWith(redirectUri); hop++) {
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url);
        if (url.href.startsWith(redirectUri)) break;
        res = await browser.request(url);
        continue;
      }
      const html = await res.text();
      pages.push(`${url.origin === gw.origin ? 'gateway' : 'idp'} ${url.pathname} ${res.status} ${res.headers.get('content-type')}`);
      expect(res.status, html.slice(0, 300)).toBe(200);
      const action = new URL(/<form[^>]*action="([^"]*)"/.exec(html)![1]!.replace(/&amp;/g, '&'), url);
      const hidden = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, '&')]),
      );
      if (html.includes('name="password"')) {
        res = await browser.request(action, { form: { ...hidden, username: 'alice', password: 'alice-demo-pass' } });
      } else {
        consent = html;
        res = await browser.request(action, { form: { ...hidden, decision: 'allow' }, headers: { Origin: url.origin } });
      }
      url = action;
    }
    expect(pages).toEqual(['idp /authorize 200 text/html; charset=utf-8', 'gateway /oauth/consent 200 text/html; charset=utf-8']);
    expect(consent).toMatch(/^<!doctype html><html lang="en">/);
    expect(consent).toContain('Allow <strong>Package Test Agent</strong>');
    expect(url.href.startsWith(redirectUri)).toBe(true);
    expect(url.searchParams.get('state')).toBe('package-test');
    expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });
});
