import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ERROR_TABLE, type GatewayError } from '../errors.js';

/**
 * A failed tool call as MCP reports it (`isError: true`), so the agent sees what happened and why:
 * `[code] message`, then the error table's hint for the code, if any. `signIn` is the transport's
 * way to sign in again (`xaa-gateway login` on stdio; remote users reconnect their MCP client).
 */
export function toolErrorResult(err: GatewayError, signIn = 'sign in again'): CallToolResult {
  const extra = ERROR_TABLE[err.code].hint?.(err, signIn);
  return {
    isError: true,
    content: [{ type: 'text', text: `[${err.code}] ${err.message}${extra ? `\n${extra}` : ''}` }],
  };
}
