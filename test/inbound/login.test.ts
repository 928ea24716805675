import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDemoLogin } from '../../tools/demo/index.js';
import { BIN, startEnv, type Env } from '../../tools/testkit/env.js';

/** `xaa-gateway login`, `whoami` and `logout` as a user runs them, against the demo IdP. */
let env: Env;
// Commands that talk to the demo IdP must not block this process: it hosts the IdP.
const run = async (...args: string[]) => (await promisify(execFile)(process.execPath, args, { encoding: 'utf8' })).stdout;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(() => env?.close());

const cli = (...args: string[]) => [BIN, '--config', env.configPath, '--credentials', env.credentials('cli'), ...args];

function runLogin(user: string, password: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cli('login', '--no-browser'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let driving = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      const url = /(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)/.exec(stderr)?.[1];
      if (url && !driving) {
        driving = true;
        // The person in the browser: sign in on the IdP page, which redirects to the loopback listener.
        completeDemoLogin(url, user, password)
          .then((location) => fetch(location))
          .catch(reject);
      }
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('login / whoami / logout', () => {
  it('before login, whoami says how to sign in and exits 1', () => {
    let status = 0;
    let out = '';
    try {
      execFileSync(process.execPath, cli('whoami'), { encoding: 'utf8', stdio: 'pipe' });
    } catch (e: any) {
      status = e.status;
      out = e.stdout;
    }
    expect(status).toBe(1);
    expect(out).toContain('Not signed in. Run `xaa-gateway login`.');
  });

  it('login: code + PKCE with a loopback redirect; credentials saved with mode 0600', async () => {
    const r = await runLogin('alice', 'alice-demo-pass');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/code_challenge_method=S256/);
    expect(r.stderr).toMatch(/scope=openid\+profile\+email\+offline_access/);
    expect(r.stderr).toMatch(/redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/);
    expect(r.stdout).toContain('Signed in as alice@acme.example');
    const file = env.credentials('cli');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const creds = JSON.parse(readFileSync(file, 'utf8'));
    expect(creds).toMatchObject({ version: 1, issuer: env.demo.urls.idp, clientId: 'xaa-gateway', sub: 'u-alice', email: 'alice@acme.example' });
    expect(creds.refreshToken).toBeTruthy();
    expect(execFileSync(process.execPath, cli('whoami'), { encoding: 'utf8' })).toMatch(
      /^alice@acme\.example \(sub u-alice\) at http:\/\/127\.0\.0\.1:\d+; ID token valid until .*renewable/,
    );
  });

  it('a wrong password keeps the user on the IdP page (no credentials written)', async () => {
    // completeDemoLogin throws when the IdP does not redirect (bad password): drive it directly.
    const { login } = await import('../../src/inbound/login.js');
    const { loadConfigFile } = await import('../../src/config/index.js');
    const { defaultDeps } = await import('../../src/deps.js');
    await expect(
      login({
        runtime: loadConfigFile(env.configPath),
        credentialsPath: env.credentials('wrong'),
        deps: defaultDeps,
        timeoutMs: 500,
        openUrl: async (u) => {
          await completeDemoLogin(u, 'alice', 'not-the-password').catch(() => undefined);
        },
      }),
    ).rejects.toMatchObject({ code: 'login_failed', message: expect.stringMatching(/no sign-in within 0\.5 s/) });
    expect(existsSync(env.credentials('wrong'))).toBe(false);
  });

  it('logout revokes the refresh token at the IdP and deletes the file', async () => {
    const creds = JSON.parse(readFileSync(env.credentials('cli'), 'utf8'));
    const out = await run(...cli('logout'));
    expect(out).toMatch(/Signed out; deleted .*credentials-cli\.json\. The refresh token was revoked at the IdP\./);
    expect(existsSync(env.credentials('cli'))).toBe(false);
    // The revoked refresh token no longer works at the IdP.
    const res = await fetch(`${env.demo.urls.idp}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`xaa-gateway:${readFileSync('tools/demo/secrets/idp-client-secret', 'utf8').trim()}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.refreshToken }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await run(...cli('logout'))).toContain('Not signed in; nothing to do.');
  });
});
