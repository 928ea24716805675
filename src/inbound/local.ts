import { statSync } from 'node:fs';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import type { SubjectTokenSource } from '../broker/index.js';
import type { ConfigStore } from '../config/index.js';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { deleteCredentials, readCredentials, writeCredentials, type StoredCredentials } from './credentials.js';
import type { Caller, InboundIdentity } from './identity.js';
import { idpConfiguration } from './idp-client.js';

const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';
/** An ID token this close to its `exp` is renewed before use, so the IdP never sees an expired one. */
const RENEW_BEFORE_MS = 60_000;
const LOGIN_HINT = 'run `xaa-gateway login` in a terminal, then call the tool again';

/**
 * stdio mode: one local user, signed in with `xaa-gateway login`. The credentials file is re-read
 * when it changes, so signing in (or out) in another terminal takes effect without a restart.
 */
export class LocalIdentity implements InboundIdentity {
  #cached?: { mtimeMs: number; creds: StoredCredentials };
  #refreshing?: Promise<StoredCredentials>;

  constructor(
    private readonly opts: { credentialsPath: string; config: ConfigStore; deps: Deps },
  ) {}

  async resolve(): Promise<Caller> {
    const creds = await this.#load();
    return {
      user: { iss: creds.issuer, sub: creds.sub, ...(creds.email ? { email: creds.email } : {}), ...(creds.name ? { name: creds.name } : {}) },
      subject: this.#subject(),
    };
  }

  async #load(): Promise<StoredCredentials> {
    const path = this.opts.credentialsPath;
    let mtimeMs: number;
    try {
      // Synchronous on purpose: one tiny syscall on every call, cheaper than a thread-pool round trip.
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      this.#cached = undefined;
      throw new GatewayError('not_signed_in', `not signed in: ${LOGIN_HINT}`);
    }
    if (this.#cached?.mtimeMs !== mtimeMs) {
      const creds = await readCredentials(path);
      if (!creds) throw new GatewayError('not_signed_in', `not signed in: ${LOGIN_HINT}`);
      this.#cached = { mtimeMs, creds };
    }
    const { creds } = this.#cached;
    const idp = this.opts.config.current.config.idp;
    if (creds.issuer !== idp.issuer || creds.clientId !== idp.clientId) {
      throw new GatewayError('not_signed_in', `signed in at ${creds.issuer}, but mcp.config.json uses the IdP ${idp.issuer}; ${LOGIN_HINT}`);
    }
    return creds;
  }

  #subject(): SubjectTokenSource {
    return {
      getSubjectToken: async ({ forceRefresh, type }) => {
        let creds = await this.#load();
        if (type === REFRESH_TOKEN_TYPE) {
          if (!creds.refreshToken) throw new GatewayError('not_signed_in', `no refresh token was issued at sign-in; ${LOGIN_HINT}`);
          return creds.refreshToken;
        }
        if (type !== ID_TOKEN_TYPE) throw new GatewayError('internal', `unsupported subject token type ${type}`);
        if (forceRefresh || creds.idTokenExpiresAt - RENEW_BEFORE_MS <= this.opts.deps.now()) creds = await this.#renew(creds);
        return creds.idToken;
      },
    };
  }

  /** One refresh at a time: refresh tokens rotate, so two concurrent refreshes would revoke each other. */
  #renew(stale: StoredCredentials): Promise<StoredCredentials> {
    this.#refreshing ??= this.#doRenew(stale).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #doRenew(stale: StoredCredentials): Promise<StoredCredentials> {
    if (!stale.refreshToken) throw new GatewayError('not_signed_in', `your sign-in expired and cannot be renewed; ${LOGIN_HINT}`);
    const runtime = this.opts.config.current;
    const config = await idpConfiguration(runtime.config.idp.issuer, runtime.idpClient, this.opts.deps);
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, stale.refreshToken);
    } catch (e) {
      if (e instanceof client.ResponseBodyError) {
        throw new GatewayError('not_signed_in', `the IdP no longer accepts your sign-in (${e.error}); ${LOGIN_HINT}`, { cause: e, oauthError: e.error });
      }
      throw new GatewayError('idp_unreachable', `cannot renew your sign-in at ${runtime.config.idp.issuer}: ${(e as Error).message}`, { cause: e });
    }
    if (!tokens.id_token) throw new GatewayError('not_signed_in', `the IdP renewed the sign-in without an ID token; ${LOGIN_HINT}`);
    const exp = decodeJwt(tokens.id_token).exp;
    const next: StoredCredentials = {
      ...stale,
      idToken: tokens.id_token,
      idTokenExpiresAt: (exp ?? 0) * 1000,
      refreshToken: tokens.refresh_token ?? stale.refreshToken,
      savedAt: new Date(this.opts.deps.now()).toISOString(),
    };
    await writeCredentials(this.opts.credentialsPath, next);
    this.#cached = undefined;
    return next;
  }
}

/** `xaa-gateway logout`: revoke the refresh token where the IdP can (RFC 7009), then delete the file. */
export async function logout(opts: { credentialsPath: string; config: ConfigStore; deps: Deps }): Promise<{ deleted: boolean; revoked: boolean; revokeError?: string }> {
  const creds = await readCredentials(opts.credentialsPath).catch(() => undefined);
  let revoked = false;
  let revokeError: string | undefined;
  if (creds?.refreshToken) {
    try {
      const runtime = opts.config.current;
      const config = await idpConfiguration(creds.issuer, runtime.idpClient, opts.deps);
      if (config.serverMetadata().revocation_endpoint) {
        await client.tokenRevocation(config, creds.refreshToken, { token_type_hint: 'refresh_token' });
        revoked = true;
      } else {
        revokeError = 'the IdP publishes no revocation_endpoint';
      }
    } catch (e) {
      revokeError = (e as Error).message;
    }
  }
  const deleted = await deleteCredentials(opts.credentialsPath);
  return { deleted, revoked, ...(revokeError ? { revokeError } : {}) };
}
