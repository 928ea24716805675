/**
 * What differs between MCP protocol revisions, in one place. Revisions are dates, so they compare
 * as strings. The SDK negotiates the version; these only answer "does this revision do X".
 */

/** The 2026-07-28 revision: stateless, per-request `_meta` envelope, no `initialize`. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** SEP-1303 (2025-11-25): invalid tool arguments are a tool execution error, not a -32602. */
export function argumentErrorIsToolResult(version: string | undefined): boolean {
  return version !== undefined && version >= '2025-11-25';
}

/** JSON-RPC batches were removed in 2025-06-18 (and never existed in 2026-07-28). */
export function batchesAllowed(version: string): boolean {
  return version < '2025-06-18';
}

/**
 * SEP-1699 (2025-11-25): an SSE stream may open with a priming event (an id and empty data) that
 * clients of earlier revisions cannot parse; they get only the `retry` field.
 */
export function primingEventAllowed(version: string): boolean {
  return version >= '2025-11-25';
}
