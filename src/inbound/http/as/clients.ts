import type { Context } from 'hono';
import type { RuntimeConfig } from '../../../config/index.js';
import { GatewayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { RegisteredClient, Store } from '../../../store/types.js';
import { fetchClientMetadata, looksLikeCimdClientId } from './cimd.js';
import { oauthError, sha256 } from './http.js';
import { safeEqual } from '../../../security.js';

export interface ClientRegistryOptions {
  store: Store;
  logger: Logger;
  now: () => number;
  runtime: () => RuntimeConfig;
  /** The gateway's publicUrl is http on loopback (development). */
  devLoopback: () => boolean;
}

/**
 * Where MCP clients come from: the config (pre-registered, upserted into the store), RFC 7591
 * registrations (in the store), and Client ID Metadata Documents (fetched, cached in the store
 * until their HTTP cache lifetime ends).
 */
export class ClientRegistry {
  readonly #inflight = new Map<string, Promise<RegisteredClient>>();

  constructor(private readonly opts: ClientRegistryOptions) {}

  /** Upserts the config's clients; removes those a reload took out of the config. */
  async syncConfigClients(next: RuntimeConfig, previous?: RuntimeConfig): Promise<void> {
    const clients = next.config.server?.clients ?? [];
    const now = this.opts.now();
    for (const c of clients) {
      const secret = next.serverClientSecrets.get(c.clientId);
      await this.opts.store.upsertClient({
        clientId: c.clientId,
        source: 'config',
        clientName: c.clientName,
        redirectUris: [...c.redirectUris],
        tokenEndpointAuthMethod: secret ? 'client_secret_basic' : 'none',
        ...(secret ? { clientSecretHash: sha256(secret) } : {}),
        metadata: {
          client_name: c.clientName,
          redirect_uris: [...c.redirectUris],
          ...(c.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
        },
        createdAt: now,
      });
    }
    const kept = new Set(clients.map((c) => c.clientId));
    for (const old of previous?.config.server?.clients ?? []) {
      if (!kept.has(old.clientId)) {
        await this.opts.store.deleteClient(old.clientId);
        await this.opts.store.revokeRefreshTokensOf({ clientId: old.clientId }, now);
      }
    }
  }

  /**
   * The client, or undefined when unknown. A URL client_id not in the store (or whose cached document
   * expired) is fetched as a metadata document; a document that cannot be used throws `invalid_client`
   * with the reason.
   */
  async find(clientId: string): Promise<RegisteredClient | undefined> {
    if (!clientId || clientId.length > 2000) return undefined;
    const stored = await this.opts.store.getClient(clientId);
    if (stored && stored.source !== 'cimd') return stored;
    if (!looksLikeCimdClientId(clientId)) return undefined;
    // Checked before the cache too: turning the option off stops documents fetched earlier.
    if (!this.opts.runtime().config.server?.clientIdMetadataDocuments) {
      throw oauthError('invalid_client', 'this gateway does not accept Client ID Metadata Documents (server.clientIdMetadataDocuments is off)', 401);
    }
    if (stored && (stored.expiresAt ?? 0) > this.opts.now()) return stored;
    // One fetch per URL at a time, however many requests name it.
    let pending = this.#inflight.get(clientId);
    if (!pending) {
      pending = (async () => {
        const fetched = await fetchClientMetadata(clientId, { devLoopback: this.opts.devLoopback(), now: this.opts.now() });
        await this.opts.store.upsertClient(fetched);
        this.opts.logger.info('client metadata document fetched', { clientId, clientName: fetched.clientName, expiresAt: fetched.expiresAt });
        return fetched;
      })().finally(() => this.#inflight.delete(clientId));
      this.#inflight.set(clientId, pending);
    }
    return pending;
  }

  /**
   * Client authentication at /token and /revoke (RFC 6749 §2.3.1, OAuth 2.1 §2.4): public clients
   * send only client_id; confidential clients use HTTP Basic or client_secret in the body, never both.
   */
  async authenticate(c: Context, form: URLSearchParams): Promise<RegisteredClient> {
    const header = c.req.header('authorization');
    let basic: { id: string; secret: string } | undefined;
    if (header) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (!m || colon < 0) throw invalidClient('malformed Authorization header; use HTTP Basic with client_id:client_secret');
      try {
        basic = {
          id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
          secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
        };
      } catch {
        throw invalidClient('malformed Authorization header (bad percent-encoding)');
      }
    }
    const formId = form.get('client_id') ?? undefined;
    const formSecret = form.get('client_secret') ?? undefined;
    if (basic && formSecret !== undefined)
      throw oauthError('invalid_request', 'use one client authentication method: HTTP Basic or client_secret in the body, not both');
    if (basic && formId !== undefined && formId !== basic.id)
      throw oauthError('invalid_request', 'client_id in the body differs from the one in the Authorization header');
    const clientId = basic?.id ?? formId;
    if (!clientId) throw invalidClient('client authentication required: send client_id (public clients) or HTTP Basic credentials');
    let client: RegisteredClient | undefined;
    try {
      client = await this.find(clientId);
    } catch (e) {
      if (e instanceof GatewayError && e.oauthError === 'invalid_client') throw invalidClient(e.message);
      throw e;
    }
    if (!client) throw invalidClient('unknown client');
    const secret = basic?.secret ?? formSecret;
    if (client.tokenEndpointAuthMethod === 'none') {
      if (secret !== undefined) throw invalidClient('this is a public client: send no client secret');
      return client;
    }
    if (secret === undefined) throw invalidClient('this client must authenticate with its client secret');
    if (!client.clientSecretHash || !safeEqual(sha256(secret), client.clientSecretHash)) throw invalidClient('client authentication failed');
    return client;
  }
}

/** RFC 6749 §5.2: 401 (the route adds a Basic challenge when the client tried HTTP Basic). */
function invalidClient(description: string): GatewayError {
  return oauthError('invalid_client', description, 401);
}

/**
 * Whether the client registered the refresh_token grant (RFC 7591 §2 `grant_types`, SEP-2207's OAuth
 * signal). Pre-registered clients are the administrator's: they may. RFC 7591 registrations store the
 * grant types register.ts settled on; a metadata document without `grant_types` means
 * `authorization_code` only (RFC 7591 §2 default).
 */
export function allowsRefreshGrant(client: RegisteredClient): boolean {
  if (client.source === 'config') return true;
  const grantTypes = client.metadata.grant_types;
  return Array.isArray(grantTypes) && grantTypes.includes('refresh_token');
}

/**
 * Whether the client must send a DPoP proof at /token: it registered `dpop_bound_access_tokens`
 * (RFC 9449 §5.2; RFC 7591 registration, metadata document, or `dpopBoundAccessTokens` in the config).
 */
export function requiresDpop(client: RegisteredClient): boolean {
  return client.metadata.dpop_bound_access_tokens === true;
}
