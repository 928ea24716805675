import * as oauth from 'oauth4webapi';
import type { DroppedToken } from '../broker/index.js';
import type { Deps } from '../deps.js';
import type { Logger } from '../log.js';
import { clientAuthentication } from '../xaa/client-auth.js';
import { describeNetworkError, oauthHttpOptions } from '../xaa/http.js';
import type { AuthorizationServerMetadata } from '../xaa/types.js';

export interface RevocationDeps {
  deps: Deps;
  logger: Logger;
  /** RFC 8414 metadata of an AS (cached by the XaaPort). */
  discover(issuer: string): Promise<AuthorizationServerMetadata>;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
}

export type RevocationOutcome = { fingerprint: string; authorizationServer: string; result: 'revoked' | 'unsupported' | 'failed'; error?: string };

/**
 * Best-effort RFC 7009 revocation of downstream access tokens a kill switch dropped from the cache.
 * Only where the AS publishes `revocation_endpoint` (RFC 8414 §2); the gateway authenticates as
 * the client the token was minted for (RFC 7009 §2.1). A failure is logged, never thrown: the
 * tokens are already out of the cache and the switch already denies, and the AS may not support
 * revoking access tokens at all (§2.2.1 `unsupported_token_type`). Logs carry fingerprints only.
 */
export async function revokeDownstreamTokens(tokens: readonly DroppedToken[], r: RevocationDeps): Promise<RevocationOutcome[]> {
  return Promise.all(tokens.map((t) => revokeOne(t, r)));
}

async function revokeOne(t: DroppedToken, r: RevocationDeps): Promise<RevocationOutcome> {
  const base = { fingerprint: t.fingerprint, authorizationServer: t.authorizationServer };
  try {
    const as = await r.discover(t.authorizationServer);
    if (!as.revocation_endpoint) return { ...base, result: 'unsupported' };
    const url = new URL(as.revocation_endpoint);
    const res = await oauth.revocationRequest(
      as as oauth.AuthorizationServer,
      { client_id: t.client.clientId },
      await clientAuthentication(t.client, r.deps),
      t.accessToken,
      {
        ...oauthHttpOptions(url, r.deps, r.timeoutMs ?? 5_000),
        additionalParameters: { token_type_hint: 'access_token' },
      },
    );
    await oauth.processRevocationResponse(res);
    r.logger.info('downstream token revoked (RFC 7009)', base);
    return { ...base, result: 'revoked' };
  } catch (e) {
    const error = e instanceof oauth.ResponseBodyError ? e.error : describeNetworkError(e);
    r.logger.warn('downstream token revocation failed; the token stays out of the cache and expires on its own', { ...base, error });
    return { ...base, result: 'failed', error };
  }
}
