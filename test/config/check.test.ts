import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAllSecrets } from '../../src/config/check.js';
import { loadConfigFile, type GatewayConfigInput } from '../../src/config/index.js';
import { DEFAULT_DEMO_PORTS, DEMO_SECRETS_DIR, demoConfig, type DemoUrls } from '../../tools/demo/index.js';
import { BIN } from '../../tools/testkit/env.js';

/** `config check` reads every secret reference, including those only `serve` would read at start. */

const dir = mkdtempSync(join(tmpdir(), 'xaa-config-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const urls = Object.fromEntries(Object.entries(DEFAULT_DEMO_PORTS).map(([k, p]) => [k, `http://127.0.0.1:${p}`])) as DemoUrls;
const TOKEN = 'x'.repeat(40);

function write(name: string, mutate: (c: GatewayConfigInput) => void = () => {}): string {
  const cfg = demoConfig(urls, { secretsDir: DEMO_SECRETS_DIR, auditDir: join(dir, 'audit') });
  mutate(cfg);
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

describe('checkAllSecrets', () => {
  it('counts every readable secret reference of the demo config', () => {
    // idp, five resources, the upstream's key, server.encryptionKey, admin.tokens[0], ssf.pushToken
    expect(checkAllSecrets(loadConfigFile(write('ok')))).toBe(12);
  });

  it.each([
    [
      'an admin token from an unset variable',
      (c: GatewayConfigInput) => (c.admin = { tokens: [{ env: 'XAA_TEST_UNSET_ADMIN_TOKEN' }] }),
      /^admin\.tokens\[0\]: environment variable XAA_TEST_UNSET_ADMIN_TOKEN is not set/,
    ],
    ['a missing ssf push token file', (c: GatewayConfigInput) => (c.ssf = { ...c.ssf!, pushToken: { file: join(dir, 'nope') } }), /^ssf\.pushToken: /],
  ])('%s -> config_secret naming the path', (_label, mutate, message) => {
    const rt = loadConfigFile(write('bad', mutate));
    expect(() => checkAllSecrets(rt, {})).toThrow(message);
    try {
      checkAllSecrets(rt, {});
    } catch (e) {
      expect((e as { code?: string }).code).toBe('config_secret');
    }
  });

  it("a readable env reference counts (here in place of the demo's admin token file)", () => {
    const rt = loadConfigFile(write('env', (c) => (c.admin = { tokens: [{ env: 'XAA_TEST_ADMIN_TOKEN' }] })));
    expect(checkAllSecrets(rt, { XAA_TEST_ADMIN_TOKEN: TOKEN })).toBe(12);
  });
});

describe('xaa-gateway config check', () => {
  const run = (path: string) =>
    promisify(execFile)(process.execPath, [BIN, 'config', 'check', path], { env: { ...process.env, XAA_TEST_UNSET_ADMIN_TOKEN: '' } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('OK with the count of secrets read', async () => {
    const r = await run(write('cli-ok'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK: .*cli-ok\.json: 7 tools, 5 resources, 1 upstream MCP servers, 12 secrets readable; audit log in /);
  });

  it('exit 2 naming the path of a secret only serve would read', async () => {
    const r = await run(write('cli-bad', (c) => (c.admin = { tokens: [{ env: 'XAA_TEST_UNSET_ADMIN_TOKEN' }] })));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin\.tokens\[0\]: environment variable XAA_TEST_UNSET_ADMIN_TOKEN is not set; export it/);
  });
});
