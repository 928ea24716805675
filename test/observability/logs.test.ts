import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createLogger, redact } from '../../src/log.js';
import { ROOT } from '../../tools/testkit/env.js';

// Look-alikes of what the gateway handles; none may ever reach a log line.
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.access-token-secret-payload.sig';
const ID_JAG = 'eyJ0eXAiOiJvYXV0aC1pZC1qYWcrand0In0.idjag-secret.sig';
const CLIENT_SECRET = 'client-secret-value-42';
const REFRESH = 'refresh-token-value-77';
const PRIVATE_KEY = '-----BEGIN PRIVATE KEY-----MIIEv...';
const SECRETS = [ACCESS_TOKEN, ID_JAG, CLIENT_SECRET, REFRESH, PRIVATE_KEY, 'pa55word', 'sid=cookie-value'];

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l), ...(level ? { level } : {}) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('logs (pino)', () => {
  it('one JSON object per line with time, level, name and msg', () => {
    const { logger, lines, records } = capture('debug');
    logger.info('config reloaded', { path: '/etc/mcp.config.json', tools: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(records()[0]).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      name: 'xaa-gateway',
      msg: 'config reloaded',
      path: '/etc/mcp.config.json',
      tools: 3,
    });
  });

  it.each([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['error', ['error']],
  ] as const)('level %s writes %j', (level, written) => {
    const { logger, records } = capture(level);
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(written);
  });

  it('a token, an ID-JAG, a secret or a key never appears, at any depth; fingerprints, jtis and token types stay', () => {
    const { logger, lines, records } = capture();
    logger.error('token request failed', {
      accessToken: ACCESS_TOKEN,
      id_jag: ID_JAG,
      request: { headers: { authorization: `Bearer ${ACCESS_TOKEN}`, cookie: 'sid=cookie-value' }, form: { assertion: ID_JAG, client_secret: CLIENT_SECRET } },
      refreshTokens: [{ refresh_token: REFRESH }],
      privateKey: PRIVATE_KEY,
      user: { password: 'pa55word', email: 'alice@acme.test' },
      tokenFingerprint: 'fp-abc',
      idJagJti: 'jti-123',
      subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
      error: Object.assign(new Error('invalid_grant'), { code: 'token_exchange_failed' }),
    });
    const out = lines.join('\n');
    for (const s of SECRETS) expect(out).not.toContain(s);
    const r = records()[0]!;
    expect(r).toMatchObject({
      accessToken: '[redacted]',
      id_jag: '[redacted]',
      request: { headers: { authorization: '[redacted]', cookie: '[redacted]' }, form: { assertion: '[redacted]', client_secret: '[redacted]' } },
      refreshTokens: '[redacted]',
      privateKey: '[redacted]',
      user: { password: '[redacted]', email: 'alice@acme.test' },
      tokenFingerprint: 'fp-abc',
      idJagJti: 'jti-123',
      subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
      error: { name: 'Error', message: 'invalid_grant', code: 'token_exchange_failed' },
    });
    expect(out).not.toContain('stack');
  });

  it('redact() keeps its semantics: arrays, errors, depth limit', () => {
    expect(redact([{ token: 'x' }, 1])).toEqual([{ token: '[redacted]' }, 1]);
    expect(redact({ err: new TypeError('bad') })).toEqual({ err: { name: 'TypeError', message: 'bad', code: undefined } });
    expect(redact('plain')).toBe('plain');
  });

  it('the default logger writes to stderr only: stdout is the MCP stdio transport', () => {
    const script = `import('./src/log.ts').then((m) => { const l = m.createLogger(); l.info('hello', { accessToken: ${JSON.stringify(ACCESS_TOKEN)} }); l.debug('hidden'); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, XAA_LOG_LEVEL: 'info' },
      timeout: 20_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'hello', accessToken: '[redacted]' });
    expect(r.stderr).not.toContain(ACCESS_TOKEN);
  });
});
