import type { Deps } from '../../deps.js';
import type { VerifiedBearer } from './auth.js';
import { JSONRPC_SERVER_ERROR, jsonRpcError } from './errors.js';
import { eventTagOf, type HeldStreams, openEventStream } from './event-stream.js';
import type { CachedSession } from './session-cache.js';

/**
 * A 2025-era session's GET: the SSE stream on which this instance sends the session's change
 * notifications (tools/list_changed), held until the client or the gateway closes it.
 */
export function listen(
  req: Request,
  session: CachedSession,
  bearer: VerifiedBearer,
  opts: { toolsRevision: () => string; streams: HeldStreams; deps: Pick<Deps, 'now'> },
): Response {
  if (!(req.headers.get('accept') ?? '').includes('text/event-stream')) {
    return jsonRpcError(406, JSONRPC_SERVER_ERROR, 'Not Acceptable: Client must accept text/event-stream');
  }
  session.stream?.close(); // one GET stream per session here: a reconnecting client replaces its old one
  const revision = opts.toolsRevision();
  const stream = openEventStream({ protocolVersion: session.record.protocolVersion, eventTag: revision, headers: { 'mcp-session-id': session.record.id } });
  // A client that reconnects (perhaps to another instance after this one died) having seen an older
  // tools revision missed a change: tell it now rather than replaying events nobody kept.
  const seen = eventTagOf(req.headers.get('last-event-id'));
  if (seen !== undefined && seen !== revision) stream.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
  const handle = { close: (reason?: string) => stream.close(reason), send: (m: unknown) => stream.send(m) };
  session.stream = handle;
  const unregister = opts.streams.add({
    owner: session.record.owner,
    tokenExp: bearer.claims.exp,
    sessionId: session.record.id,
    close: () => stream.close(),
  });
  void stream.closed.then(() => {
    unregister();
    if (session.stream === handle) delete session.stream;
    session.lastSeen = opts.deps.now();
  });
  return stream.response;
}
