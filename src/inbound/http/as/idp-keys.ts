import type * as client from 'openid-client';
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import type { RuntimeConfig } from '../../../config/index.js';
import type { Deps } from '../../../deps.js';
import { oauthError } from './http.js';

export interface IdpKeysContext {
  idp(): Promise<client.Configuration>;
  deps: Pick<Deps, 'fetch'>;
  runtime(): RuntimeConfig;
}

/**
 * The enterprise IdP's signing keys, fetched from the jwks_uri of its discovered metadata and cached
 * by jose (an unknown `kid` refetches at most once per cooldown, so forged assertions cannot turn into
 * a flood of fetches). One per authorization server; re-made when the IdP's jwks_uri changes.
 */
export class IdpKeys {
  #jwks?: { uri: string; get: JWTVerifyGetKey };

  constructor(private readonly ctx: IdpKeysContext) {}

  async getKey(): Promise<JWTVerifyGetKey> {
    const uri = (await this.ctx.idp()).serverMetadata().jwks_uri;
    if (!uri) throw oauthError('temporarily_unavailable', "the enterprise IdP's metadata has no jwks_uri: ID-JAGs cannot be verified", 503);
    if (this.#jwks?.uri !== uri) {
      const fetchFn = this.ctx.deps.fetch;
      this.#jwks = {
        uri,
        get: createRemoteJWKSet(new URL(uri), {
          timeoutDuration: this.ctx.runtime().config.idp.timeoutMs ?? 4_000,
          cooldownDuration: 30_000,
          cacheMaxAge: 600_000,
          [customFetch]: (url, init) => fetchFn(url, init as RequestInit),
        }),
      };
    }
    return this.#jwks.get;
  }
}
