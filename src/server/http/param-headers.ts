/**
 * SEP-2243 (MCP 2026-07-28 Streamable HTTP, "Custom Headers"): a tool may mark primitive arguments
 * with `x-mcp-header: <Name>` in its inputSchema; clients then mirror the argument's value into an
 * `Mcp-Param-<Name>` header (Base64 as `=?base64?…?=` when it is not plain ASCII), and the server
 * MUST reject a tools/call whose headers and body disagree with 400 and -32020 HeaderMismatch.
 *
 * The SDK's createMcpHandler does this only for tools registered on an McpServer; the gateway's
 * tools are per user and come from upstreams, so the HTTP adapter checks them here against the
 * schema the gateway advertises. Same rules as the SDK's own check (not exported by 2.4.0): only
 * declarations statically reachable through `properties`, a body value that is absent or null
 * expects no header, integers compare numerically, an invalid Base64 payload is refused.
 */

import { paramHeaderDeclarations, type ParamHeaderDeclaration } from '../../json-schema/x-mcp-header.js';

export const HEADER_MISMATCH = -32020;

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/** The header value as text: the Base64 sentinel decoded (UTF-8), otherwise literal; undefined when the sentinel's payload is invalid. */
export function decodeParamHeader(value: string): string | undefined {
  if (!(value.length >= SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length && value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) return String(value);
  return undefined;
}

/** Why the request's `Mcp-Param-*` headers disagree with its arguments, or undefined when they agree. */
export function paramHeaderProblem(declarations: ParamHeaderDeclaration[], args: unknown, headers: Headers): string | undefined {
  for (const decl of declarations) {
    let body: unknown = args;
    for (const key of decl.path) body = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
    if (body === undefined || body === null) continue; // no value in the body: no header expected
    const text = asText(body);
    if (text === undefined) continue; // not a primitive: the argument schema check reports it
    const header = `Mcp-Param-${decl.headerName}`;
    const raw = headers.get(header);
    const where = decl.path.join('.');
    if (raw === null) return `the body carries ${where}=${JSON.stringify(body)} but the ${header} header is absent`;
    const decoded = decodeParamHeader(raw.trim());
    if (decoded === undefined) return `the ${header} header carries an invalid Base64 value`;
    const numeric = (decl.type === 'integer' || decl.type === 'number') && typeof body === 'number' && DECIMAL.test(decoded);
    if (numeric ? Number(decoded) !== body : decoded !== text)
      return `the ${header} header decodes to ${JSON.stringify(decoded)} but the body carries ${where}=${JSON.stringify(body)}`;
  }
  return undefined;
}

/**
 * For a 2026-07-28 tools/call: the 400 / -32020 response when its `Mcp-Param-*` headers and
 * arguments disagree, given the called tool's advertised inputSchema (undefined: unknown tool,
 * left to tools/call to report).
 */
export async function paramHeaderRejection(req: Request, body: unknown, inputSchemaOf: (tool: string) => Promise<unknown>): Promise<Response | undefined> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const msg = body as { id?: unknown; method?: unknown; params?: { name?: unknown; arguments?: unknown } };
  if (msg.method !== 'tools/call' || msg.id === undefined || typeof msg.params?.name !== 'string') return undefined;
  const schema = await inputSchemaOf(msg.params.name);
  if (schema === undefined) return undefined;
  const declarations = paramHeaderDeclarations(schema);
  if (declarations.length === 0) return undefined;
  const problem = paramHeaderProblem(declarations, msg.params.arguments, req.headers);
  if (!problem) return undefined;
  return Response.json(
    { jsonrpc: '2.0', id: msg.id, error: { code: HEADER_MISMATCH, message: `Bad Request: the request headers and body disagree: ${problem}` } },
    { status: 400 },
  );
}
