import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { DownstreamResult } from './http-operation.js';

/**
 * Maps the answer of a downstream HTTP operation to an MCP tool result. Failures the agent can act
 * on are tool errors (`isError: true`, MCP spec "Error Handling": the model sees them); a 401 is
 * thrown as `downstream_unauthorized` so the broker can evict the token and mint again once.
 * The bodies were already stripped of the access token by executeHttpOperation.
 */

/** Longest SaaS error message quoted in a tool error. */
const MAX_DETAIL = 500;

export function toToolResult(result: DownstreamResult, tool: Pick<ToolConfig, 'name' | 'scopes'>): CallToolResult {
  const host = hostOf(result.url);
  if (result.status === 401) {
    const error = authParam(result.wwwAuthenticate, 'error');
    throw new GatewayError('downstream_unauthorized', `${host} rejected the access token (HTTP 401${error ? ` ${error}` : ''})`, {
      status: 401,
      details: { host, ...(result.wwwAuthenticate ? { wwwAuthenticate: result.wwwAuthenticate } : {}) },
    });
  }
  if (result.status >= 200 && result.status < 300) return success(result, tool);

  const detail = saasMessage(result);
  const tail = detail ? `: ${detail}` : '';
  const from = `HTTP ${result.status} from ${host}`;
  switch (true) {
    case result.status === 400:
      return toolError(`The SaaS rejected the request as invalid (${from})${tail}`);
    case result.status === 403:
      return forbidden(result, tool, from, tail);
    case result.status === 404:
      return toolError(`Not found at the SaaS (${from})${tail}`);
    case result.status === 409:
      return toolError(`The SaaS reported a conflict with the current state of the resource (${from})${tail}`);
    case result.status === 422:
      return toolError(`The SaaS could not process the request (${from})${tail}`);
    case result.status === 429:
      return toolError(`Rate limited by the SaaS (${from}); ${retryHint(result.retryAfter)}${tail}`);
    case result.status >= 500:
      return toolError(`The SaaS failed (${from})${tail}; try again later`);
    default:
      return toolError(`The SaaS answered ${from}${tail}`);
  }
}

function success(result: DownstreamResult, tool: Pick<ToolConfig, 'name'>): CallToolResult {
  if (result.status === 204 || result.bodyText.trim() === '') {
    return { content: [{ type: 'text', text: `${tool.name} succeeded (HTTP ${result.status}${result.status === 204 ? ' No Content' : ', empty response'})` }] };
  }
  if (result.json === undefined) return { content: [{ type: 'text', text: result.bodyText }] };
  // The serialized JSON for clients that read only text (MCP 2025-06-18, "Structured Content"), compact:
  // indentation is tokens in the model's context and bytes on every hop, for the same value.
  const out: CallToolResult = { content: [{ type: 'text', text: JSON.stringify(result.json) }] };
  // structuredContent must be a JSON object (MCP 2025-06-18, "Structured Content").
  if (Array.isArray(result.json)) out.structuredContent = { items: result.json };
  else if (isObject(result.json)) out.structuredContent = result.json;
  return out;
}

/** 403: tells insufficient_scope (RFC 6750 §3.1) apart from a plain refusal, and says what the admin must do. */
function forbidden(result: DownstreamResult, tool: Pick<ToolConfig, 'name' | 'scopes'>, from: string, tail: string): CallToolResult {
  const body = isObject(result.json) ? result.json : {};
  const error = authParam(result.wwwAuthenticate, 'error') ?? (typeof body.error === 'string' ? body.error : undefined);
  if (error !== 'insufficient_scope') {
    return toolError(`The SaaS refused the call (${from})${tail}; the user may lack permission for this in the SaaS`);
  }
  const required = scopeList(authParam(result.wwwAuthenticate, 'scope') ?? body.scope ?? body.required_scope ?? body.required_scopes);
  const current = tool.scopes.length ? tool.scopes.join(' ') : 'none';
  const where = `the "scopes" of tool "${tool.name}" in mcp.config.json (currently: ${current})`;
  const lead = `The SaaS refused the call: the access token lacks a required scope (${from} insufficient_scope)`;
  if (required.length === 0) {
    return toolError(`${lead}. The SaaS did not say which scope; an administrator must add the required scope to ${where}`);
  }
  const missing = required.filter((s) => !tool.scopes.includes(s));
  const quoted = (list: string[]) => list.map((s) => `"${s}"`).join(', ');
  if (missing.length === 0) {
    return toolError(
      `${lead}. It requires ${quoted(required)}, which the tool requests but the authorization server did not grant; an administrator must allow ${required.length > 1 ? 'them' : 'it'} for the gateway's client at the SaaS`,
    );
  }
  return toolError(`${lead}. It requires scope ${quoted(missing)}; an administrator must add ${missing.length > 1 ? 'them' : 'it'} to ${where}`);
}

function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

function retryHint(retryAfter: string | undefined): string {
  if (!retryAfter) return 'retry later';
  const value = retryAfter.trim();
  return /^\d+$/.test(value) ? `retry after ${value} seconds` : `retry after ${value}`;
}

/** The SaaS's own explanation: OAuth style, RFC 9457 problem details, or common API shapes. */
function saasMessage(result: DownstreamResult): string | undefined {
  if (isObject(result.json)) {
    const j = result.json;
    const code = typeof j.error === 'string' ? j.error : undefined;
    const description =
      str(j.error_description) ??
      str(j.message) ??
      (isObject(j.error) ? str(j.error.message) : undefined) ??
      str(j.detail) ??
      str(j.title) ??
      (Array.isArray(j.errors) && isObject(j.errors[0]) ? str(j.errors[0].message) : undefined);
    const text = code && description ? `${code}: ${description}` : (description ?? code);
    return text === undefined ? undefined : truncate(text);
  }
  const text = result.bodyText.trim();
  if (text && result.json === undefined && /^text\/plain\b/i.test(result.contentType ?? '')) return truncate(text);
  return undefined;
}

/** A parameter of a WWW-Authenticate challenge (RFC 9110 §11.6.1), quoted or token form. */
function authParam(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const m = new RegExp(`(?:^|[\\s,])${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^\\s,]+))`, 'i').exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

function scopeList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the SaaS';
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function truncate(s: string): string {
  return s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}…` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
