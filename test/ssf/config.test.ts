import { describe, expect, it } from 'vitest';
import { buildRuntimeConfig } from '../../src/config/index.js';
import { GatewayError } from '../../src/errors.js';
import { resolveSsfSettings } from '../../src/ssf/index.js';
import { ENV, runtimeWith } from './helpers.js';

const issues = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    return ((e as GatewayError).details?.issues as string[] | undefined) ?? [(e as Error).message];
  }
  return [];
};

describe('config: ssf', () => {
  it('defaults: push, 30 s interval, 1 day max age, audience = server.publicUrl (with and without "/")', () => {
    const rt = runtimeWith({ transmitter: 'https://idp.test' });
    expect(rt.config.ssf).toEqual({ transmitter: 'https://idp.test', delivery: 'push', pollIntervalSeconds: 30, maxAgeSeconds: 86400 });
    expect(resolveSsfSettings(rt, ENV)).toEqual({
      transmitter: 'https://idp.test',
      audiences: ['https://gw.test', 'https://gw.test/'],
      delivery: 'push',
      pollIntervalMs: 30_000,
      maxAgeSeconds: 86400,
      skewSeconds: 30,
    });
  });

  it('secrets are references, read at resolve time', () => {
    const rt = runtimeWith({
      transmitter: 'https://idp.test',
      delivery: 'poll',
      pollUrl: 'https://idp.test/ssf/poll',
      pollToken: { env: 'POLL_TOKEN' },
      pushToken: { env: 'PUSH_TOKEN' },
      audience: 'urn:gw',
    });
    expect(resolveSsfSettings(rt, ENV)).toMatchObject({
      audiences: ['urn:gw'],
      pollToken: ENV.POLL_TOKEN,
      pushToken: ENV.PUSH_TOKEN,
      pollUrl: 'https://idp.test/ssf/poll',
    });
    expect(() => resolveSsfSettings(rt, { PUSH_TOKEN: 'x' })).toThrow(/ssf.pollToken: environment variable POLL_TOKEN is not set/);
  });

  it.each([
    [{ transmitter: 'https://idp.test', delivery: 'poll' }, 'ssf.pollUrl: delivery "poll" needs the poll endpoint'],
    [{ transmitter: 'https://idp.test', pushToken: 'literal' }, 'ssf.pushToken: literal secret refused'],
    [{ transmitter: 'https://idp.test', delivery: 'both' }, 'ssf.delivery'],
    [{ transmitter: 'https://idp.test', pollIntervalSeconds: 0 }, 'ssf.pollIntervalSeconds'],
    [{ transmitter: 'not a url' }, 'ssf.transmitter: must be an absolute URL'],
    [{ transmitter: 'https://idp.test', extra: 1 }, 'ssf'],
  ])('%j is refused at %s', (ssf, path) => {
    expect(issues(() => runtimeWith(ssf as never)).some((l) => l.startsWith(path))).toBe(true);
  });

  it('without server.publicUrl the audience must be given (checked when the receiver starts)', () => {
    const idp = { issuer: 'https://idp.test', clientId: 'gw', auth: { method: 'client_secret_basic' as const, clientSecret: { env: 'IDP_SECRET' } } };
    const noServer = buildRuntimeConfig({ idp, ssf: { transmitter: 'https://idp.test' } }, '/x/mcp.config.json', 'h', ENV);
    expect(() => resolveSsfSettings(noServer, ENV)).toThrow(/ssf.audience: set it, or server.publicUrl/);
    const withAudience = buildRuntimeConfig({ idp, ssf: { transmitter: 'https://idp.test', audience: 'urn:gw' } }, '/x/mcp.config.json', 'h', ENV);
    expect(resolveSsfSettings(withAudience, ENV)?.audiences).toEqual(['urn:gw']);
  });

  it('plain http only for loopback transmitters', () => {
    expect(() => resolveSsfSettings(runtimeWith({ transmitter: 'http://idp.example' }), ENV)).toThrow(/ssf.transmitter: must be an https URL/);
    expect(resolveSsfSettings(runtimeWith({ transmitter: 'http://127.0.0.1:4400' }), ENV)?.transmitter).toBe('http://127.0.0.1:4400');
  });
});
