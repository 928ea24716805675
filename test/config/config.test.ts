import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigStore, configJsonSchema, loadConfigFile, parseConfigText, type GatewayConfigInput } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'xaa-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'secret'), 'from-file\n');
const env = { IDP_SECRET: 's3cret' };

function base(): GatewayConfigInput {
  return {
    idp: { issuer: 'https://idp.example', clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: { env: 'IDP_SECRET' } } },
    resources: {
      cal: {
        resource: 'https://cal.example/api',
        authorizationServer: 'https://cal.example',
        client: { clientId: 'gw', auth: { method: 'client_secret_post', clientSecret: { file: 'secret' } } },
      },
    },
    tools: [
      {
        name: 'cal_get',
        description: 'Get an event',
        resource: 'cal',
        scopes: ['calendar.read'],
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        http: { method: 'GET', url: 'https://cal.example/api/events/{id}' },
      },
    ],
  };
}

const parse = (cfg: unknown, e: Record<string, string> = env) => parseConfigText(JSON.stringify(cfg), join(dir, 'mcp.config.json'), e);

describe('config', () => {
  it('accepts a valid config, fills defaults, resolves secrets and freezes it', () => {
    const rt = parse(base());
    expect(rt.config.tokens).toEqual({ maxLifetimeSeconds: 900, skewSeconds: 30 });
    expect(rt.config.tools[0]!.http.timeoutMs).toBe(30_000);
    expect(rt.config.tools[0]!.http.maxResponseBytes).toBe(1024 * 1024);
    expect(rt.idpClient).toEqual({ clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: 's3cret' } });
    expect(rt.resourceClients.get('cal')).toEqual({ clientId: 'gw', auth: { method: 'client_secret_post', clientSecret: 'from-file' } });
    expect(rt.auditDir).toBe(join(dir, 'data/audit'));
    expect(Object.isFrozen(rt.config.tools[0]!.scopes)).toBe(true);
  });

  const cases: Array<[string, (c: any) => void, RegExp]> = [
    ['literal client secret', (c) => (c.idp.auth.clientSecret = 'hunter2'), /idp\.auth\.clientSecret: literal secret refused: .*\{"env": "VAR_NAME"\}/],
    ['unknown resource', (c) => (c.tools[0].resource = 'crm'), /tools\[0\]\.resource: unknown resource "crm"; declare it under "resources" \(known: cal\)/],
    [
      'path parameter not in schema',
      (c) => (c.tools[0].http.url = 'https://cal.example/api/events/{eventId}'),
      /tools\[0\]\.http\.url: path parameter \{eventId\} must be a required property of inputSchema/,
    ],
    ['relative URL', (c) => (c.tools[0].http.url = '/api/events'), /tools\[0\]\.http\.url: must be an absolute URL/],
    ['non-http URL', (c) => (c.resources.cal.resource = 'ftp://cal.example'), /resources\.cal\.resource: must be an http\(s\) URL/],
    [
      'URL with credentials',
      (c) => (c.tools[0].http.url = 'https://me:pw@cal.example/api'),
      /tools\[0\]\.http\.url: must not carry credentials \(user:password@\)/,
    ],
    [
      'header value with a control character',
      (c) => (c.tools[0].http.headers = { 'X-Api': 'a\u0000b' }),
      /tools\[0\]\.http\.headers\["X-Api"\]: must be a valid HTTP field value/,
    ],
    ['issuer with query', (c) => (c.idp.issuer = 'https://idp.example/?x=1'), /idp\.issuer: an issuer must not have a query/],
    ['duplicate tool', (c) => c.tools.push({ ...c.tools[0] }), /tools\[1\]\.name: duplicate tool name "cal_get" \(also tools\[0\]\)/],
    ['unknown field', (c) => (c.tools[0].scope = ['x']), /tools\[0\]: unknown field\(s\) "scope"/],
    ['bad auth method', (c) => (c.idp.auth.method = 'client_secret_jwt'), /idp\.auth\.method: /],
    [
      'Authorization header',
      (c) => (c.tools[0].http.headers = { authorization: 'Bearer x' }),
      /tools\[0\]\.http\.headers: Authorization is set by the gateway/,
    ],
    [
      'query arg not in schema',
      (c) => (c.tools[0].http.query = { q: 'query' }),
      /tools\[0\]\.http\.query\.q: argument "query" is not a property of inputSchema/,
    ],
    ['scope with space', (c) => (c.tools[0].scopes = ['a b']), /tools\[0\]\.scopes\[0\]: a scope token has no spaces/],
    [
      'inputSchema that is not JSON Schema',
      (c) => (c.tools[0].inputSchema.properties.id.minLength = -1),
      /tools\[0\]\.inputSchema: is not a valid JSON Schema \(draft 2020-12\): \/properties\/id\/minLength must be >= 0/,
    ],
    [
      'GET with a body map',
      (c) => (c.tools[0].http.body = { id: 'id' }),
      /tools\[0\]\.http\.body: GET requests carry no body; map these arguments with "query" instead/,
    ],
    ['lifetime cap over 1 h', (c) => (c.tokens = { maxLifetimeSeconds: 7200 }), /tokens\.maxLifetimeSeconds: /],
  ];
  it.each(cases)('refuses %s, naming the path', (_label, mutate, message) => {
    const cfg = base();
    mutate(cfg);
    expect(() => parse(cfg)).toThrowError(message);
    try {
      parse(cfg);
    } catch (e) {
      expect(e).toMatchObject({ code: 'config_invalid' });
    }
  });

  it.each([
    ['mcp.internal.acme.example', undefined],
    ['10.0.0.7', undefined],
    ['[::1]', undefined],
    ['*.acme.example', /server\.allowedHosts\[0\]: a host name or IP literal without scheme, port or wildcard/],
    ['https://mcp.acme.example', /server\.allowedHosts\[0\]: a host name or IP literal/],
    ['mcp.acme.example:443', /server\.allowedHosts\[0\]: a host name or IP literal/],
  ])('server.allowedHosts %s', (host, message) => {
    const cfg = { ...base(), server: { publicUrl: 'https://mcp.acme.example', encryptionKey: { env: 'KEY' }, allowedHosts: [host] } };
    const e = { ...env, KEY: 'a'.repeat(64) };
    if (message) expect(() => parse(cfg, e)).toThrowError(message);
    else expect(parse(cfg, e).config.server?.allowedHosts).toEqual([host]);
  });

  it.each([['missing env var', {}, /idp\.auth\.clientSecret: environment variable IDP_SECRET is not set/]])('secret errors: %s', (_l, e, message) => {
    expect(() => parse(base(), e)).toThrowError(message);
  });

  it('names a missing secret file', () => {
    const cfg = base() as any;
    cfg.resources.cal.client.auth.clientSecret = { file: 'nope' };
    expect(() => parse(cfg)).toThrowError(/resources\.cal\.client\.auth\.clientSecret: cannot read secret file .*nope \(ENOENT\)/);
  });

  it('refuses a private_key_jwt key without its private part', () => {
    writeFileSync(join(dir, 'pub.jwk'), JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }));
    const cfg = base() as any;
    cfg.resources.cal.client.auth = { method: 'private_key_jwt', privateKey: { file: 'pub.jwk' } };
    expect(() => parse(cfg)).toThrowError(/resources\.cal\.client\.auth\.privateKey: the JWK has no private part/);
  });

  it('reports JSON syntax errors with line and column', () => {
    expect(() => parseConfigText('{\n  "idp": {,\n}', '/x/mcp.config.json', env)).toThrowError(/\/x\/mcp\.config\.json: not valid JSON: .*line 2, column 11/);
  });

  it('says how to fix a missing file', () => {
    expect(() => loadConfigFile(join(dir, 'missing.json'))).toThrowError(/not found; create it .* or pass --config <file>/);
  });

  it('exports a JSON Schema that editors can use', () => {
    const schema = configJsonSchema() as any;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['idp', 'resources', 'tools', 'upstreams', 'tokens', 'audit']));
    expect(schema.required).toEqual(['idp']);
  });

  it('the committed mcp.config.schema.json is the one generated from the zod schema', () => {
    const committed = JSON.parse(readFileSync(join(import.meta.dirname, '../../mcp.config.schema.json'), 'utf8'));
    expect(committed, 'run `npm run config:schema` to regenerate it').toEqual(configJsonSchema());
  });

  it('the committed mcp.config.json is valid and references the schema', () => {
    const path = join(import.meta.dirname, '../../mcp.config.json');
    expect(JSON.parse(readFileSync(path, 'utf8')).$schema).toBe('./mcp.config.schema.json');
    expect(loadConfigFile(path).config.tools.length).toBeGreaterThan(0);
  });

  it('hot reload: a valid edit applies, an invalid one keeps the last good config', async () => {
    const file = join(dir, 'watched.json');
    writeFileSync(file, JSON.stringify(base()));
    const store = new ConfigStore(loadConfigFile(file, env), env);
    const changes: number[] = [];
    const invalid: string[] = [];
    store.subscribe({ onChange: (n) => changes.push(n.config.tools.length), onInvalid: (m) => invalid.push(m) });
    store.watch(20);
    try {
      const next = base() as any;
      next.tools.push({ ...next.tools[0], name: 'cal_get2' });
      writeFileSync(file, JSON.stringify(next));
      await expect.poll(() => changes, { timeout: 3000 }).toEqual([2]);
      next.tools[1].resource = 'nope';
      writeFileSync(file, JSON.stringify(next));
      await expect.poll(() => invalid.length, { timeout: 3000 }).toBe(1);
      expect(invalid[0]).toMatch(/tools\[1\]\.resource: unknown resource "nope"/);
      expect(store.current.config.tools).toHaveLength(2);
    } finally {
      store.close();
    }
  });
});
