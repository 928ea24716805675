import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorCode } from '../errors.js';

/**
 * How one tools/call ended, as every step of the call path returns it: the MCP result for the
 * transport, and the kind (and for a denial, the code) that the span and the metrics read.
 * A call that fails as a protocol error (unknown tool, invalid arguments, an upstream's -32021)
 * throws a GatewayError instead, which the transport maps.
 */
export type CallOutcome =
  | { kind: 'success'; result: CallToolResult }
  /** The tool ran and failed, or could not be reached: the downstream's answer, or why not. */
  | { kind: 'tool_error'; result: CallToolResult }
  /** Refused before anything was sent: not signed in, policy, kill switch, rate limit, no token. */
  | { kind: 'denied'; result: CallToolResult; code: ErrorCode };

export const success = (result: CallToolResult): CallOutcome => (result.isError ? { kind: 'tool_error', result } : { kind: 'success', result });
