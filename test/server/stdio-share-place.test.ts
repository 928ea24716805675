import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shareKey, sharePlace, type PlaceInput } from '../../src/server/stdio/share/place.js';

/**
 * Where stdio clients meet their shared host, and which clients may share one: the key changes with
 * everything that changes what the gateway does for them, and only with that; a directory other users
 * could reach is refused with the fix.
 */

const root = mkdtempSync(join(tmpdir(), 'xaa-share-place-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
writeFileSync(join(root, 'a.json'), '{}');
writeFileSync(join(root, 'b.json'), '{}');

const base: Omit<PlaceInput, 'dir'> = {
  configPath: join(root, 'a.json'),
  credentialsPath: join(root, 'credentials.json'),
  config: { idp: { client: { secret: { env: 'IDP_SECRET' } } }, resources: { crm: { client: { secret: { file: 'x' } } } } },
  env: { PATH: '/usr/bin', IDP_SECRET: 's1', XAA_LOG_LEVEL: 'info' },
};

const salt = Buffer.alloc(32, 7);

describe('shareKey', () => {
  const key = shareKey(base, salt);
  it.each([
    ['another config file', { configPath: join(root, 'b.json') }],
    ['another credentials file (another sign-in)', { credentialsPath: join(root, 'other.json') }],
    ['a secret the config reads from the environment', { env: { ...base.env, IDP_SECRET: 's2' } }],
    ['an XAA_ variable', { env: { ...base.env, XAA_LOG_LEVEL: 'debug' } }],
    ['NODE_EXTRA_CA_CERTS (whom TLS trusts)', { env: { ...base.env, NODE_EXTRA_CA_CERTS: '/etc/ca.pem' } }],
  ])('changes with %s', (_, change) => {
    expect(shareKey({ ...base, ...change }, salt)).not.toBe(key);
  });
  it.each([
    ['an unrelated variable (each desktop client has its own PATH)', { env: { ...base.env, PATH: '/opt/bin:/usr/bin' } }],
    ['the config content (the host reloads an edited config)', { config: { ...(base.config as object), tools: [] } }],
    ['a relative spelling of the same config path', { configPath: join(root, '.', 'x', '..', 'a.json') }],
  ])('does not change with %s', (_, change) => {
    expect(shareKey({ ...base, ...change }, salt)).toBe(key);
  });
  it('changes with the salt: a secret among its inputs cannot be guessed from it without the directory', () => {
    expect(shareKey(base, Buffer.alloc(32, 8))).not.toBe(key);
  });
  it('is short enough for a socket name, and safe in a file name', () => {
    expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('sharePlace', () => {
  it('creates the directory 0700 and names the socket, log and locks by the key', () => {
    const dir = join(root, 'fresh');
    const place = sharePlace({ ...base, dir });
    // The directory's salt: made once, the user's only, the same for every later process.
    const made = readFileSync(join(dir, 'key-salt'));
    expect(made).toHaveLength(32);
    expect(statSync(join(dir, 'key-salt')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const key = shareKey(base, made);
    expect(place).toEqual({
      dir,
      key,
      socket: join(dir, `${key}.sock`),
      log: join(dir, `${key}.log`),
      soloLock: `${key}-solo`,
      hostLock: `${key}-host`,
    });
    expect(sharePlace({ ...base, dir })).toEqual(place);
  });
  it('defaults to $XDG_RUNTIME_DIR/xaa-gateway', () => {
    const xdg = join(root, 'xdg');
    mkdirSync(xdg);
    expect(sharePlace({ ...base, env: { ...base.env, XDG_RUNTIME_DIR: xdg } })).toMatchObject({ dir: join(xdg, 'xaa-gateway') });
  });
  it.each([
    [
      'open to other users',
      (d: string) => {
        mkdirSync(d);
        chmodSync(d, 0o755);
      },
      'is open to other users (mode 755); chmod 700 it',
    ],
    ['a symbolic link', (d: string) => symlinkSync(root, d), 'is not a directory; remove it'],
    ['a file', (d: string) => writeFileSync(d, ''), 'is not a directory; remove it'],
  ])('refuses a directory that is %s, saying what to do', (_, make, reason) => {
    const dir = join(root, `bad-${reason.length}-${Math.random().toString(36).slice(2)}`);
    make(dir);
    expect(sharePlace({ ...base, dir })).toEqual({ refused: `${dir} ${reason}` });
  });
  it('refuses a socket path longer than a Unix socket name allows, naming the fix', () => {
    const dir = join(root, 'd'.repeat(100));
    const place = sharePlace({ ...base, dir });
    expect(place).toEqual({ refused: expect.stringContaining('bytes; set XDG_RUNTIME_DIR to a shorter directory') });
  });
});
