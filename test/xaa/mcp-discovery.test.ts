import { describe, expect, it } from 'vitest';
import { discoverMcpResource, parseResourceMetadataUrl } from '../../src/xaa/index.js';
import { caught, fakeFetch, json } from './helpers.js';

const MCP = 'https://mcp.saas.example/mcp';
const PRM_URL = 'https://mcp.saas.example/.well-known/oauth-protected-resource/mcp';
const AS = 'https://auth.saas.example';
const asMeta = { issuer: AS, token_endpoint: `${AS}/token` };

describe('parseResourceMetadataUrl (RFC 9728 §5.1)', () => {
  const cases: { header: string | null; want: string | undefined }[] = [
    { header: `Bearer resource_metadata="${PRM_URL}"`, want: PRM_URL },
    { header: `Bearer error="invalid_token", resource_metadata="${PRM_URL}", scope="a b"`, want: PRM_URL },
    { header: `bearer resource_metadata=${PRM_URL}`, want: PRM_URL },
    { header: 'Bearer realm="mcp"', want: undefined },
    { header: `Basic resource_metadata="${PRM_URL}"`, want: undefined },
    { header: 'Bearer resource_metadata="not a url"', want: undefined },
    { header: null, want: undefined },
  ];
  it.each(cases)('$header', async ({ header, want }) => {
    expect((await parseResourceMetadataUrl(header))?.href).toBe(want);
  });
});

function upstream(opts: { prm?: Record<string, unknown>; challenge?: string | null; prmAt?: string } = {}) {
  const prmAt = opts.prmAt ?? 'https://mcp.saas.example/meta/prm.json';
  const challenge = opts.challenge === undefined ? `Bearer resource_metadata="${prmAt}"` : opts.challenge;
  const prm = opts.prm ?? { resource: MCP, authorization_servers: [AS], scopes_supported: ['mcp:read'] };
  return fakeFetch(async (req) => {
    if (req.url === MCP && req.method === 'POST') {
      return new Response(JSON.stringify({ error: 'invalid_token' }), {
        status: 401,
        headers: challenge ? { 'www-authenticate': challenge, 'content-type': 'application/json' } : {},
      });
    }
    if (req.url === prmAt) return json(prm);
    if (req.url === `${AS}/.well-known/oauth-authorization-server`) return json(asMeta);
    return new Response('not found', { status: 404 });
  });
}

describe('discoverMcpResource (SEP-990)', () => {
  it('401 challenge -> PRM -> AS metadata', async () => {
    const f = upstream();
    const r = await discoverMcpResource(MCP, f.deps);
    expect(r).toEqual({ resource: MCP, authorizationServer: asMeta, scopesSupported: ['mcp:read'] });
    const probe = f.requests[0]!;
    expect(probe.method).toBe('POST');
    expect(probe.headers.get('authorization')).toBeNull();
    expect(probe.headers.get('accept')).toBe('application/json, text/event-stream');
    expect(await probe.json()).toMatchObject({ jsonrpc: '2.0', method: 'initialize' });
    expect(f.requests.map((q) => q.url)).toEqual([MCP, 'https://mcp.saas.example/meta/prm.json', `${AS}/.well-known/oauth-authorization-server`]);
  });

  it("uses the caller's WWW-Authenticate without probing", async () => {
    const f = upstream();
    await discoverMcpResource(MCP, f.deps, { wwwAuthenticate: 'Bearer resource_metadata="https://mcp.saas.example/meta/prm.json"' });
    expect(f.requests[0]!.url).toBe('https://mcp.saas.example/meta/prm.json');
  });

  it('no resource_metadata in the challenge: RFC 9728 §3.1 well-known URL with the path inserted', async () => {
    const f = upstream({ challenge: 'Bearer realm="mcp"', prmAt: PRM_URL });
    const r = await discoverMcpResource(MCP, f.deps);
    expect(r.resource).toBe(MCP);
    expect(f.requests[1]!.url).toBe(PRM_URL);
  });

  const mismatches = [
    { name: 'another server', resource: 'https://other.example/mcp' },
    { name: 'a trailing slash (not identical, §3.3)', resource: `${MCP}/` },
    { name: 'the origin only', resource: 'https://mcp.saas.example' },
  ];
  it.each(mismatches)('refuses a resource mismatch: $name', async ({ resource }) => {
    const f = upstream({ prm: { resource, authorization_servers: [AS] } });
    const e = await caught(discoverMcpResource(MCP, f.deps));
    expect(e.code).toBe('discovery_failed');
    expect(e.message).toContain('RFC 9728 §3.3');
    expect(f.requests.some((q) => q.url.startsWith(AS))).toBe(false);
  });

  it('refuses PRM without authorization_servers', async () => {
    const f = upstream({ prm: { resource: MCP } });
    const e = await caught(discoverMcpResource(MCP, f.deps));
    expect(e.code).toBe('discovery_failed');
    expect(e.message).toContain('authorization_servers');
  });

  it('refuses a non-https resource_metadata pointer', async () => {
    const f = upstream();
    const e = await caught(discoverMcpResource(MCP, f.deps, { wwwAuthenticate: 'Bearer resource_metadata="http://evil.example/prm"' }));
    expect(e.code).toBe('discovery_failed');
    expect(f.requests).toHaveLength(0);
  });

  it('propagates an AS issuer mismatch', async () => {
    const f = fakeFetch(async (req) => {
      if (req.url === PRM_URL) return json({ resource: MCP, authorization_servers: [AS] });
      if (req.url.startsWith(AS)) return json({ issuer: 'https://evil.example', token_endpoint: 'https://evil.example/token' });
      return new Response('', { status: 404 });
    });
    const e = await caught(discoverMcpResource(MCP, f.deps, { wwwAuthenticate: null }));
    expect(e.code).toBe('discovery_failed');
    expect(e.message).toContain('RFC 8414 §3.3');
  });
});
