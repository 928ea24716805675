import type { AuditEvent } from '../audit/types.js';
import type { BrokeredToken, MintTarget, TokenBroker } from '../broker/index.js';
import { buildDownstreamRequest, executeHttpOperation, type DownstreamResult } from '../catalog/http-operation.js';
import { toToolResult } from '../catalog/tool-result.js';
import { callUpstreamTool, requiredCapabilitiesOf, type UpstreamAuth, type UpstreamConnections, type UpstreamProgress } from '../catalog/upstream.js';
import type { ToolConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import type { DpopClient } from '../dpop/index.js';
import { toGatewayError } from '../errors.js';
import type { Caller } from '../inbound/identity.js';
import { success, type CallOutcome } from './outcome.js';
import type { CallRecorder } from './recorder.js';
import { toolErrorResult } from './tool-error.js';
import type { ResolvedTool } from './tools.js';

/** One allowed call, from its first token to its result: what the downstream steps share. */
export interface AllowedCall {
  args: Record<string, unknown>;
  mint: MintTarget;
  caller: Caller;
  token: BrokeredToken;
  /** The call's audit event so far (user, agent, tool, resource, scopes). */
  audited: AuditEvent;
  /** deps.now() when the call arrived. */
  started: number;
}

export interface DownstreamContext {
  broker: TokenBroker;
  recorder: CallRecorder;
  /** deps whose fetch makes each request a span carrying traceparent. */
  deps: Deps;
  signInHint: string;
  /** The gateway's DPoP key, for tokens bound to it. */
  dpop: () => Promise<DpopClient>;
}

/**
 * A config tool: one HTTP request built from the config and the arguments (once), sent after its
 * decision record is durable. A 401 evicts the token and mints once more, with a decision of its own.
 */
export async function callHttp(d: DownstreamContext, tool: ToolConfig, call: AllowedCall): Promise<CallOutcome> {
  const { audited, started } = call;
  const req = buildDownstreamRequest(tool.http, call.args);
  const downstream = { method: req.method, url: req.url.origin + req.url.pathname };
  let token = call.token;
  for (let attempt = 0; ; attempt++) {
    // Fail closed: the decision is on disk before the SaaS sees the request.
    await d.recorder.decision(audited, token, downstream, attempt === 0 ? 'allowed' : 're-mint after downstream 401');
    const t0 = d.deps.now();
    let result: DownstreamResult;
    try {
      const dpop = token.tokenType === 'DPoP' ? { dpop: await d.dpop() } : {};
      result = await executeHttpOperation(tool.http, call.args, token.accessToken, d.deps, { request: req, ...dpop });
    } catch (e) {
      const err = toGatewayError(e);
      d.recorder.outcome(audited, { ok: false, ...(err.status ? { status: err.status } : {}), error: err.auditCode }, t0, started);
      return { kind: 'tool_error', result: toolErrorResult(err, d.signInHint) };
    }
    d.recorder.outcome(audited, { ok: result.ok, status: result.status, ...(result.ok ? {} : { error: `http_${result.status}` }) }, t0, started);
    if (result.status === 401 && attempt === 0) {
      // The SaaS refused the token (revoked, rotated keys): drop it and mint once more.
      d.broker.evict(call.mint, token.accessToken);
      token = await d.broker.getToken(call.mint, call.caller.subject);
      continue;
    }
    try {
      return success(toToolResult(result, tool));
    } catch (e) {
      return { kind: 'tool_error', result: toolErrorResult(toGatewayError(e), d.signInHint) };
    }
  }
}

/**
 * An upstream MCP server's tool, over the connection kept for the caller's token. A 401 re-mints once
 * (the outcome of the refused attempt and the new decision are recorded). An upstream's -32021
 * (missing client capabilities) is rethrown for the transport to relay as that protocol error.
 */
export async function callUpstream(
  d: DownstreamContext,
  connections: UpstreamConnections,
  resolved: Extract<ResolvedTool, { kind: 'upstream' }>,
  call: AllowedCall,
  onProgress?: (p: UpstreamProgress) => void,
): Promise<CallOutcome> {
  const { audited, started } = call;
  const downstream = { method: 'tools/call', url: resolved.upstream.url };
  await d.recorder.decision(audited, call.token, downstream, 'allowed');
  const t0 = d.deps.now();
  const auth: UpstreamAuth = {
    token: call.token,
    remint: async (stale) => {
      d.recorder.outcome(audited, { ok: false, status: 401, error: 'downstream_unauthorized' }, t0, started);
      d.broker.evict(call.mint, stale.accessToken);
      const fresh = await d.broker.getToken(call.mint, call.caller.subject);
      await d.recorder.decision(audited, fresh, downstream, 're-mint after downstream 401');
      return fresh;
    },
  };
  try {
    const result = await callUpstreamTool(connections, resolved.upstream, auth, resolved.upstreamTool.name, call.args, onProgress ? { onProgress } : {});
    d.recorder.outcome(audited, { ok: !result.isError, ...(result.isError ? { error: 'tool_error' } : {}) }, t0, started);
    return success(result);
  } catch (e) {
    const err = toGatewayError(e);
    if (err.code === 'audit_unavailable') throw err;
    d.recorder.outcome(audited, { ok: false, ...(err.status ? { status: err.status } : {}), error: err.auditCode }, t0, started);
    if (requiredCapabilitiesOf(err)) throw err;
    return { kind: 'tool_error', result: toolErrorResult(err, d.signInHint) };
  }
}
