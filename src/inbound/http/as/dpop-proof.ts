import type { Context } from 'hono';
import type { RegisteredClient } from '../../../store/types.js';
import { requiresDpop } from './clients.js';
import type { AsContext } from './context.js';
import { oauthError } from './http.js';

/**
 * The DPoP proof of a token request (RFC 9449 §5): its key's thumbprint when the request carries a
 * valid one, undefined when it carries none and may go without (Bearer). The proof is checked for
 * POST to the token endpoint as the AS metadata names it (`<issuer>/token`, §4.3 step 9), without
 * `ath` (no access token yet), with a server nonce when `server.dpop.nonce` is on (§8).
 */
export async function tokenRequestProof(ctx: AsContext, c: Context, client: RegisteredClient): Promise<string | undefined> {
  const header = c.req.header('dpop') ?? null;
  if (header === null) {
    if (ctx.dpop.policy().required)
      throw oauthError('invalid_dpop_proof', 'this gateway issues only DPoP-bound access tokens (server.dpop.required): send a DPoP proof (RFC 9449 §5)');
    // §5.2: the client said it always uses DPoP; a request without a proof is not from it, or is a downgrade.
    if (requiresDpop(client))
      throw oauthError('invalid_dpop_proof', 'this client registered dpop_bound_access_tokens: send a DPoP proof with every token request (RFC 9449 §5.2)');
    return undefined;
  }
  const proof = await ctx.dpop.check({ header, method: 'POST', url: `${ctx.issuer()}/token` });
  // §8: use_dpop_nonce goes out with a DPoP-Nonce header (token.ts: tokenEndpointError).
  if (!proof.ok) throw oauthError(proof.error, proof.description);
  return proof.jkt;
}
