import { statSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import * as client from 'openid-client';
import type { ConfigStore } from '../config/index.js';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { deleteCredentials, readCredentials, writeCredentials, type StoredCredentials } from './credentials.js';
import type { Caller, InboundIdentity } from './identity.js';
import { idpConfiguration } from './idp-client.js';
import { IdpSubject } from './idp-subject.js';

const LOGIN_HINT = 'run `xaa-gateway login` in a terminal, then call the tool again';

/**
 * stdio mode: one local user, signed in with `xaa-gateway login`. The credentials file is re-read
 * when it changes, so signing in (or out) in another terminal takes effect without a restart.
 */
export class LocalIdentity implements InboundIdentity {
  readonly signInHint = LOGIN_HINT;
  #cached?: { mtimeMs: number; creds: StoredCredentials };
  #idpSubject?: IdpSubject;

  constructor(private readonly opts: { credentialsPath: string; config: ConfigStore; deps: Deps }) {}

  /**
   * Calls `listener` when the credentials file appears, changes or goes away (`xaa-gateway login`
   * or `logout` in another terminal), so a running stdio gateway can tell its client that the
   * tools it may see changed. Polls the file's stat (survives the rename a login writes with).
   */
  watch(listener: () => void, intervalMs = 500): () => void {
    const onStat = (curr: Stats, prev: Stats) => {
      if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino || curr.size !== prev.size) listener();
    };
    watchFile(this.opts.credentialsPath, { interval: intervalMs, persistent: false }, onStat);
    return () => unwatchFile(this.opts.credentialsPath, onStat);
  }

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

  #subject(): IdpSubject {
    this.#idpSubject ??= new IdpSubject(
      {
        signInHint: LOGIN_HINT,
        load: async () => {
          const c = await this.#load();
          return { idToken: c.idToken, idTokenExpiresAt: c.idTokenExpiresAt, ...(c.refreshToken ? { refreshToken: c.refreshToken } : {}) };
        },
        save: async (next) => {
          const current = await this.#load();
          await writeCredentials(this.opts.credentialsPath, {
            ...current,
            idToken: next.idToken,
            idTokenExpiresAt: next.idTokenExpiresAt,
            ...(next.refreshToken ? { refreshToken: next.refreshToken } : {}),
            savedAt: new Date(this.opts.deps.now()).toISOString(),
          });
          this.#cached = undefined;
        },
      },
      { config: this.opts.config, deps: this.opts.deps },
    );
    return this.#idpSubject;
  }
}

/** `xaa-gateway logout`: revoke the refresh token where the IdP can (RFC 7009), then delete the file. */
export async function logout(opts: {
  credentialsPath: string;
  config: ConfigStore;
  deps: Deps;
}): Promise<{ deleted: boolean; revoked: boolean; revokeError?: string }> {
  const creds = await readCredentials(opts.credentialsPath).catch(() => undefined);
  let revoked = false;
  let revokeError: string | undefined;
  if (creds?.refreshToken) {
    try {
      const runtime = opts.config.current;
      const config = await idpConfiguration(creds.issuer, runtime.idpClient, opts.deps, runtime.config.idp.timeoutMs);
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
