import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import type { SubjectTokenSource } from '../broker/index.js';
import type { ConfigStore } from '../config/index.js';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { idpConfiguration } from './idp-client.js';

export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';
/** An ID token this close to its `exp` is renewed before use, so the IdP never sees an expired one. */
const RENEW_BEFORE_MS = 60_000;

/** A user's IdP tokens, wherever they are kept (a file for stdio, the store for HTTP). */
export interface IdpTokens {
  idToken: string;
  /** Epoch ms. */
  idTokenExpiresAt: number;
  refreshToken?: string;
}

export interface IdpTokenHolder {
  load(): Promise<IdpTokens>;
  save(next: IdpTokens): Promise<void>;
  /** How the user signs in again, for error messages ("run `xaa-gateway login`", "reconnect the client"). */
  signInHint: string;
}

/**
 * The user's IdP credential as RFC 8693 subject_token: the ID token, renewed with the IdP refresh
 * token when it is about to expire or the IdP refused it. One renewal at a time per holder:
 * refresh tokens rotate, so two concurrent refreshes would invalidate each other.
 */
export class IdpSubject implements SubjectTokenSource {
  #renewing?: Promise<IdpTokens>;

  constructor(
    private readonly holder: IdpTokenHolder,
    private readonly opts: { config: ConfigStore; deps: Deps },
  ) {}

  async getSubjectToken({ forceRefresh, type }: { forceRefresh: boolean; type: string }): Promise<string> {
    let tokens = await this.holder.load();
    if (type === REFRESH_TOKEN_TYPE) {
      if (!tokens.refreshToken) throw new GatewayError('not_signed_in', `no IdP refresh token was issued at sign-in; ${this.holder.signInHint}`);
      return tokens.refreshToken;
    }
    if (type !== ID_TOKEN_TYPE) throw new GatewayError('internal', `unsupported subject token type ${type}`);
    if (forceRefresh || tokens.idTokenExpiresAt - RENEW_BEFORE_MS <= this.opts.deps.now()) tokens = await this.#renew(tokens);
    return tokens.idToken;
  }

  #renew(stale: IdpTokens): Promise<IdpTokens> {
    this.#renewing ??= this.#doRenew(stale).finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #doRenew(stale: IdpTokens): Promise<IdpTokens> {
    const hint = this.holder.signInHint;
    if (!stale.refreshToken) throw new GatewayError('not_signed_in', `your sign-in expired and cannot be renewed; ${hint}`);
    const runtime = this.opts.config.current;
    const config = await idpConfiguration(runtime.config.idp.issuer, runtime.idpClient, this.opts.deps, runtime.config.idp.timeoutMs);
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, stale.refreshToken);
    } catch (e) {
      if (e instanceof client.ResponseBodyError) {
        throw new GatewayError('not_signed_in', `the IdP no longer accepts your sign-in (${e.error}); ${hint}`, { cause: e, oauthError: e.error });
      }
      throw new GatewayError('idp_unreachable', `cannot renew your sign-in at ${runtime.config.idp.issuer}: ${(e as Error).message}`, { cause: e });
    }
    if (!tokens.id_token) throw new GatewayError('not_signed_in', `the IdP renewed the sign-in without an ID token; ${hint}`);
    const next: IdpTokens = {
      idToken: tokens.id_token,
      idTokenExpiresAt: (decodeJwt(tokens.id_token).exp ?? 0) * 1000,
      refreshToken: tokens.refresh_token ?? stale.refreshToken,
    };
    await this.holder.save(next);
    return next;
  }
}
