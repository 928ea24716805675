import { isNonceChallenge, type DpopClient } from '../dpop/index.js';

/**
 * A token request with a DPoP proof (RFC 9449 §5). `send` makes the request with the headers given,
 * afresh each time (a client assertion is single use too). When the authorization server answers
 * `use_dpop_nonce` with a `DPoP-Nonce` (§8), it is sent once more with a proof carrying that nonce;
 * the nonce is kept for the next request to that server.
 */
export async function tokenRequestWithProof(dpop: DpopClient, url: URL, send: (headers: Record<string, string>) => Promise<Response>): Promise<Response> {
  let response = await send({ DPoP: await dpop.proof('POST', url) });
  dpop.remember(response, url);
  if (await isNonceChallenge(response)) {
    await response.body?.cancel();
    response = await send({ DPoP: await dpop.proof('POST', url) });
    dpop.remember(response, url);
  }
  return response;
}
