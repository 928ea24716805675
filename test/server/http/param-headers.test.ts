import { describe, expect, it } from 'vitest';
import { paramHeaderDeclarations } from '../../../src/json-schema/x-mcp-header.js';
import { decodeParamHeader, HEADER_MISMATCH, paramHeaderRejection } from '../../../src/server/http/param-headers.js';

/** SEP-2243 (MCP 2026-07-28 Streamable HTTP, "Custom Headers"): Mcp-Param-* against x-mcp-header arguments. */

const SCHEMA = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    level: { type: 'integer', 'x-mcp-header': 'Level' },
    dry: { type: 'boolean', 'x-mcp-header': 'Dry' },
    nested: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
    plain: { type: 'string' },
  },
};

const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

function call(args: unknown, headers: Record<string, string>, name = 'tool') {
  const req = new Request('http://gw.test/mcp', { method: 'POST', headers });
  return paramHeaderRejection(req, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } }, async (tool) =>
    tool === 'tool' ? SCHEMA : undefined,
  );
}

describe('SEP-2243 Mcp-Param-* headers', () => {
  it('finds the declarations reachable through properties', () => {
    expect(paramHeaderDeclarations(SCHEMA)).toEqual([
      { path: ['region'], headerName: 'Region', type: 'string' },
      { path: ['level'], headerName: 'Level', type: 'integer' },
      { path: ['dry'], headerName: 'Dry', type: 'boolean' },
      { path: ['nested', 'zone'], headerName: 'Zone', type: 'string' },
    ]);
  });

  it.each([
    ['a non-token header name', { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'Bad Name' } } }],
    ['an object-typed property', { type: 'object', properties: { a: { type: 'object', 'x-mcp-header': 'A' } } }],
    [
      'a name declared twice (case-insensitively)',
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'A' }, b: { type: 'string', 'x-mcp-header': 'a' } } },
    ],
  ])('an invalid declaration (%s) makes the tool invalid: nothing is checked', (_, schema) => {
    expect(paramHeaderDeclarations(schema)).toEqual([]);
  });

  it.each([
    ['=?base64?SGVsbG8=?=', 'Hello'],
    ['=?base64?SGVsbG8?=', undefined], // missing padding
    ['=?base64?SGVs!!!bG8=?=', undefined], // not the Base64 alphabet
    ['=?base64?/w==?=', undefined], // not UTF-8
    ['Hello', 'Hello'],
    ['=?base64?SGVsbG8=', '=?base64?SGVsbG8='], // no suffix: literal
    ['SGVsbG8=?=', 'SGVsbG8=?='], // no prefix: literal
  ])('decodes %j as %j', (value, decoded) => {
    expect(decodeParamHeader(value)).toBe(decoded);
  });

  it.each([
    ['header equals the body', { region: 'eu' }, { 'Mcp-Param-Region': 'eu' }, undefined],
    ['Base64 header equals the body', { region: 'Zürich' }, { 'Mcp-Param-Region': b64('Zürich') }, undefined],
    ['header name is case-insensitive, value trimmed', { region: 'eu' }, { 'mcp-param-region': '  eu ' }, undefined],
    ['integer compared numerically', { level: 42 }, { 'Mcp-Param-Level': '42.0' }, undefined],
    ['boolean as lowercase text', { dry: true }, { 'Mcp-Param-Dry': 'true' }, undefined],
    ['nested argument', { nested: { zone: 'z1' } }, { 'Mcp-Param-Zone': 'z1' }, undefined],
    ['argument absent: no header expected, a present one ignored', {}, { 'Mcp-Param-Region': 'eu' }, undefined],
    ['argument null: no header expected', { region: null }, {}, undefined],
    ['undeclared argument needs no header', { plain: 'x' }, {}, undefined],
    ['header missing', { region: 'eu' }, {}, 'the body carries region="eu" but the Mcp-Param-Region header is absent'],
    ['header differs', { region: 'eu' }, { 'Mcp-Param-Region': 'us' }, 'the Mcp-Param-Region header decodes to "us" but the body carries region="eu"'],
    [
      'Base64 without padding',
      { region: 'Hello' },
      { 'Mcp-Param-Region': '=?base64?SGVsbG8?=' },
      'the Mcp-Param-Region header carries an invalid Base64 value',
    ],
    [
      'Base64 with bad characters',
      { region: 'Hello' },
      { 'Mcp-Param-Region': '=?base64?SGVs!!!bG8=?=' },
      'the Mcp-Param-Region header carries an invalid Base64 value',
    ],
    ['integer differs', { level: 42 }, { 'Mcp-Param-Level': '43' }, 'the Mcp-Param-Level header decodes to "43" but the body carries level=42'],
    ['boolean case differs', { dry: false }, { 'Mcp-Param-Dry': 'False' }, 'the Mcp-Param-Dry header decodes to "False" but the body carries dry=false'],
  ])('%s', async (_, args, headers, problem) => {
    const res = await call(args, headers);
    if (problem === undefined) {
      expect(res).toBeUndefined();
      return;
    }
    expect(res?.status).toBe(400);
    expect(await res!.json()).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: HEADER_MISMATCH, message: `Bad Request: the request headers and body disagree: ${problem}` },
    });
  });

  it.each([
    ['an unknown tool (tools/call reports it)', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'other', arguments: { region: 'eu' } } }],
    ['another method', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }],
    ['a notification', { jsonrpc: '2.0', method: 'tools/call', params: { name: 'tool', arguments: { region: 'eu' } } }],
    ['a batch', [{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'tool', arguments: { region: 'eu' } } }]],
  ])('not checked: %s', async (_, body) => {
    const req = new Request('http://gw.test/mcp', { method: 'POST' });
    expect(await paramHeaderRejection(req, body, async (tool) => (tool === 'tool' ? SCHEMA : undefined))).toBeUndefined();
  });
});
