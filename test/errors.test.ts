import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminError, HTTP_STATUS } from '../src/admin/context.js';
import { cliFailure, ERROR_CODES, ERROR_TABLE, GatewayError, retryAfterOf, type ErrorCode, type ErrorSurface } from '../src/errors.js';
import { toolErrorResult } from '../src/gateway/index.js';
import { oauthErrorResponse } from '../src/inbound/http/as/http.js';
import { bearerRefusal, jsonRpcRefusal } from '../src/server/http/errors.js';
import { scimError, scimErrorResponse } from '../src/scim/errors.js';
import { setError, setErrorBody, setErrorCode } from '../src/ssf/errors.js';

const MESSAGE = 'what went wrong, and the fix';
const SIGN_IN = 'run `xaa-gateway login`';

/** An error of each code as the code base raises it (OAuth and SET errors carry their protocol's code). */
function errorOf(code: ErrorCode): GatewayError {
  if (code === 'oauth_request') return new GatewayError(code, MESSAGE, { oauthError: 'invalid_grant', oauthErrorDescription: MESSAGE, status: 400 });
  if (code === 'security_event_invalid') return setError('invalid_request', MESSAGE);
  if (code === 'scim_invalid') return scimError(code, MESSAGE, 'invalidValue');
  if (code === 'scim_conflict') return scimError(code, MESSAGE, 'uniqueness');
  return new GatewayError(code, MESSAGE);
}

/** Renders `err` on one surface, through the function that surface answers with. */
const render: Record<ErrorSurface, (err: GatewayError) => Promise<{ status?: number; body: unknown; headers?: Headers }>> = {
  tool: async (err) => ({ body: toolErrorResult(err, SIGN_IN) }),
  jsonrpc: async (err) => {
    const res = jsonRpcRefusal(err);
    return { status: res.status, body: await res.json(), headers: res.headers };
  },
  bearer: async (err) => {
    const res = bearerRefusal({
      resourceMetadata: 'https://gw.example/.well-known/oauth-protected-resource/mcp',
      scopes: ['mcp'],
      error: err.code as 'invalid_token',
      description: err.message,
    });
    return { status: res.status, body: await res.json(), headers: res.headers };
  },
  oauth: async (err) => {
    const res = oauthErrorResponse(err);
    return { status: res.status, body: await res.json(), headers: res.headers };
  },
  admin: async (err) => {
    const res = adminError(err.code, err.message);
    return { status: res.status, body: await res.json(), headers: res.headers };
  },
  ssf: async (err) => ({
    status: setErrorCode(err) ? ERROR_TABLE.security_event_invalid.status : ERROR_TABLE.security_event_busy.status,
    body: setErrorCode(err) ? setErrorBody(err) : undefined,
  }),
  scim: async (err) => {
    const res = scimErrorResponse(err);
    return { status: res.status, body: await res.json(), headers: res.headers };
  },
  cli: async (err) => ({ body: cliFailure(err) }),
};

/** What each surface must show for `code`, from the table alone. */
function expected(surface: ErrorSurface, code: ErrorCode): { status?: number; body: unknown; retryAfter?: string | null } {
  const spec = ERROR_TABLE[code];
  const err = errorOf(code);
  const retry = retryAfterOf(err);
  const retryAfter = retry === undefined ? null : String(retry);
  switch (surface) {
    case 'tool': {
      const hint = spec.hint?.(err, SIGN_IN);
      return { body: { isError: true, content: [{ type: 'text', text: `[${code}] ${MESSAGE}${hint ? `\n${hint}` : ''}` }] } };
    }
    case 'jsonrpc':
      return { status: spec.status, body: { jsonrpc: '2.0', error: { code: spec.jsonRpc, message: spec.shown ?? MESSAGE }, id: null }, retryAfter };
    case 'bearer':
      return { status: spec.status, body: { error: spec.oauth, error_description: MESSAGE } };
    case 'oauth':
      if (code === 'oauth_request') return { status: 400, body: { error: 'invalid_grant', error_description: MESSAGE } };
      if (code === 'internal') return { status: 500, body: { error: 'server_error', error_description: 'the authorization server failed; try again' } };
      return { status: spec.status, body: { error: spec.oauth, error_description: spec.shown ?? MESSAGE }, retryAfter };
    case 'admin':
      return code === 'internal'
        ? { status: 500, body: { error: 'internal', message: MESSAGE } }
        : { status: spec.status, body: { error: code, message: MESSAGE } };
    case 'ssf':
      return { status: spec.status, body: code === 'security_event_invalid' ? { err: 'invalid_request', description: MESSAGE } : undefined };
    case 'scim': {
      const scimType = code === 'scim_invalid' ? 'invalidValue' : code === 'scim_conflict' ? 'uniqueness' : undefined;
      const detail = code === 'internal' ? 'Internal error' : (spec.shown ?? MESSAGE);
      const error = 'urn:ietf:params:scim:api:messages:2.0:Error';
      return { status: spec.status, body: { schemas: [error], status: String(spec.status), ...(scimType ? { scimType } : {}), detail }, retryAfter };
    }
    case 'cli':
      return { body: { message: `xaa-gateway: ${MESSAGE}`, exitCode: spec.exit ?? 1 } };
  }
}

const cases = ERROR_CODES.flatMap((code) => ERROR_TABLE[code].surfaces.map((surface) => [code, surface] as const));

describe('the error table', () => {
  it.each(cases)('%s on the %s surface', async (code, surface) => {
    const got = await render[surface](errorOf(code));
    const want = expected(surface, code);
    expect({ status: got.status, body: got.body }).toEqual({ status: want.status, body: want.body });
    if (want.retryAfter !== undefined) expect(got.headers?.get('retry-after') ?? null).toBe(want.retryAfter);
  });

  it('statuses are HTTP error statuses; a Retry-After only with a 429 or a 503', () => {
    for (const code of ERROR_CODES) {
      const spec = ERROR_TABLE[code];
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      if (spec.retryAfterSeconds !== undefined) expect([429, 503], code).toContain(spec.status);
      expect(spec.surfaces.length, `${code} reaches no surface`).toBeGreaterThan(0);
    }
  });

  it('a code off a surface is not shown there: JSON-RPC and OAuth answer a bare 500, the admin API an internal error', async () => {
    const offJsonRpc = jsonRpcRefusal(new GatewayError('audit_unavailable', 'disk full at /var/lib/secret-path'));
    expect({ status: offJsonRpc.status, body: await offJsonRpc.json() }).toEqual({
      status: 500,
      body: { jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null },
    });
    const offOauth = oauthErrorResponse(new GatewayError('kill_switch', 'the user is switched off'));
    expect({ status: offOauth.status, body: await offOauth.json() }).toEqual({
      status: 500,
      body: { error: 'server_error', error_description: 'the authorization server failed; try again' },
    });
    expect(HTTP_STATUS.kill_switch).toBeUndefined();
    expect(HTTP_STATUS.internal).toBeUndefined();
  });

  it('store_unavailable shows a fixed text, never its message (which may name the database host)', async () => {
    const res = jsonRpcRefusal(new GatewayError('store_unavailable', 'cannot open the PostgreSQL database at db.internal:5432'));
    expect(await res.text()).not.toContain('db.internal');
  });

  it('an error with its own Retry-After (details.retryAfterSeconds) is answered with it', () => {
    const res = jsonRpcRefusal(new GatewayError('overloaded', 'overloaded', { details: { retryAfterSeconds: 7 } }));
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('every code is raised somewhere in src/ (unused codes go)', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
      );
    const src = files(join(import.meta.dirname, '../src'))
      .filter((f) => !f.endsWith(join('src', 'errors.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    // Raised by a helper of src/errors.ts that src/ calls.
    const helpers: Partial<Record<ErrorCode, string>> = { payload_too_large: 'payloadTooLarge(' };
    const unused = ERROR_CODES.filter((code) => !src.includes(`'${code}'`) && !(helpers[code] && src.includes(helpers[code])));
    expect(unused).toEqual([]);
  });
});
