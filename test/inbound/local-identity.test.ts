import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
let env: Env;
let path: string;
beforeAll(async () => {
  env = await startEnv();
  path = await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

describe('stdio identity (LocalIdentity)', () => {
  const identity = (now = defaultDeps.now) => {
    const config = new ConfigStore(loadConfigFile(env.configPath));
    return new LocalIdentity({ credentialsPath: path, config, deps: { ...defaultDeps, now } });
  };

  it('resolves the signed-in user from the credentials file', async () => {
    const caller = await identity().resolve();
    expect(caller.user).toEqual({ iss: env.demo.urls.idp, sub: 'u-alice', email: 'alice@acme.example', name: 'Alice Anders' });
  });

  it('renews an expired ID token with the refresh token (once for concurrent callers) and saves it', async () => {
    const before = JSON.parse(readFileSync(path, 'utf8'));
    const later = () => before.idTokenExpiresAt + 1000;
    const caller = await identity(later).resolve();
    const tokens = await Promise.all([1, 2, 3].map(() => caller.subject.getSubjectToken({ forceRefresh: false, type: ID_TOKEN })));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(before.idToken);
    const after = JSON.parse(readFileSync(path, 'utf8'));
    expect(after.idToken).toBe(tokens[0]);
    expect(after.refreshToken).not.toBe(before.refreshToken); // the demo IdP rotates refresh tokens
  });

  it('a refused refresh token becomes not_signed_in with the login hint', async () => {
    env.demo.control.revokeUserSessions('alice');
    const caller = await identity().resolve();
    await expect(caller.subject.getSubjectToken({ forceRefresh: true, type: ID_TOKEN })).rejects.toMatchObject({
      code: 'not_signed_in',
      message: expect.stringMatching(/the IdP no longer accepts your sign-in \(invalid_grant\); run `xaa-gateway login`/),
    });
  });

  it('credentials for another IdP are refused with a clear message', async () => {
    const creds = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...creds, issuer: 'https://other-idp.example' }));
    await expect(identity().resolve()).rejects.toMatchObject({
      code: 'not_signed_in',
      message: expect.stringMatching(/signed in at https:\/\/other-idp\.example, but mcp\.config\.json uses the IdP http/),
    });
  });
});
