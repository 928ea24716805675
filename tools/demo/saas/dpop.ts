import { PROOF_ALGS, verifyProof, type ProofResult } from '../../../src/dpop/index.js';
import type { SaasContext } from './context.js';
import { OAuthError } from '../oauth.js';
import type { DemoDpopPolicy } from '../types.js';

/**
 * DPoP (RFC 9449) at a demo app: its policy right now, the proof at its token endpoint (§5) and at
 * its resource servers (§7.1). The proof checks themselves are src/dpop's; this file decides what
 * the app answers.
 */

/** What the app advertises (RFC 9449 §5.1 for the AS, RFC 9728 §2 for its resources) and accepts. */
export const DPOP_ALGS: readonly string[] = [...PROOF_ALGS];

/** The run-time policy (control.setDpopPolicy) over the seed's; a definition without one is "none". */
export function dpopPolicy(ctx: SaasContext): Required<DemoDpopPolicy> {
  const p = ctx.state.dpopPolicies[ctx.def.name] ?? { dpop: ctx.def.dpop ?? 'none', dpopNonce: ctx.def.dpopNonce };
  // Nonces travel in proofs: where none are taken there is nothing to ask one of.
  return { dpop: p.dpop, dpopNonce: p.dpop !== 'none' && !!p.dpopNonce };
}

function freshNonce(ctx: SaasContext): Record<string, string> {
  return { 'DPoP-Nonce': ctx.dpopNonces.issue(Date.now()) };
}

function checkProof(ctx: SaasContext, req: Request, url: string, bound: { accessToken?: string; jkt?: string }): Promise<ProofResult> {
  const now = Date.now();
  return verifyProof(req.headers.get('dpop'), {
    method: req.method,
    url,
    now,
    ...bound,
    ...(dpopPolicy(ctx).dpopNonce ? { nonce: (n: string | undefined) => ctx.dpopNonces.valid(n, now) } : {}),
    fresh: (jti, until) => ctx.dpopProofs.fresh(jti, until, now),
  });
}

/** What the token endpoint binds the token to: a key thumbprint (`cnf.jkt`, §6.1) or nothing (Bearer). */
export interface TokenBinding {
  jkt?: string;
  /** Response headers: a next nonce when the app asks for them (§8). */
  headers: Record<string, string>;
}

/**
 * The token endpoint's proof (§5). Checked before the client and the ID-JAG are, so that after a
 * nonce challenge (§8) the client can resend the same grant: nothing single use is spent yet.
 */
export async function tokenEndpointProof(ctx: SaasContext, req: Request): Promise<TokenBinding> {
  const policy = dpopPolicy(ctx);
  // An AS unaware of DPoP ignores the header; the client learns it from token_type Bearer (§5).
  if (policy.dpop === 'none') return { headers: {} };
  if (req.headers.get('dpop') === null) {
    if (policy.dpop === 'required')
      throw new OAuthError('invalid_dpop_proof', 'this authorization server issues only DPoP-bound tokens: send a DPoP proof (RFC 9449 §5)');
    return { headers: {} };
  }
  const result = await checkProof(ctx, req, `${ctx.origin}/token`, {});
  if (!result.ok) throw new OAuthError(result.error, result.description, 400, result.error === 'use_dpop_nonce' ? freshNonce(ctx) : {});
  return { jkt: result.jkt, headers: policy.dpopNonce ? freshNonce(ctx) : {} };
}

export type ResourceProof = { ok: true } | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string; headers: Record<string, string> };

/**
 * A resource request with a DPoP-bound token (§7.1): the proof is for this method and URL (as the
 * app is known publicly), this token (`ath`) and the token's key (`cnf.jkt`).
 */
export async function resourceProof(ctx: SaasContext, req: Request, accessToken: string, jkt: string): Promise<ResourceProof> {
  const result = await checkProof(ctx, req, ctx.origin + new URL(req.url).pathname, { accessToken, jkt });
  if (result.ok) return { ok: true };
  // §9: a use_dpop_nonce challenge carries the nonce to retry with.
  return { ...result, headers: result.error === 'use_dpop_nonce' ? freshNonce(ctx) : {} };
}
