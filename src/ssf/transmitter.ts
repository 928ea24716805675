import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { describeNetworkError, isAllowedUrl, parseUrl } from '../xaa/http.js';
import { SSF_WELL_KNOWN } from './constants.js';

/**
 * The transmitter as the receiver knows it: its SSF configuration metadata (SSF 1.0 §7) and, from
 * its `jwks_uri`, the keys that sign its SETs. Failures here are transient for the SETs waiting on
 * them (a `discovery_failed` GatewayError, not a SET error): the transmitter delivers them again.
 */

const TransmitterMetadata = z.looseObject({
  issuer: z.string().min(1),
  jwks_uri: z.string().min(1),
  delivery_methods_supported: z.array(z.string()).optional(),
  configuration_endpoint: z.string().optional(),
});
export type TransmitterMetadata = z.infer<typeof TransmitterMetadata>;

/** SSF 1.0 §7.2: "/.well-known/ssf-configuration" goes between the host and the issuer's path (trailing "/" removed). */
export function ssfConfigurationUrl(issuer: string): URL {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  return new URL(`${u.origin}${SSF_WELL_KNOWN}${path}`);
}

export function buildMetadataRequest(issuer: string): Request {
  return new Request(ssfConfigurationUrl(issuer), { method: 'GET', headers: { Accept: 'application/json' }, redirect: 'manual' });
}

/** SSF 1.0 §7.2.3: the `issuer` returned must be identical to the one the document was fetched for. */
export async function processMetadataResponse(issuer: string, res: Response): Promise<TransmitterMetadata> {
  const where = `SSF configuration of ${issuer}`;
  if (res.status !== 200) throw new GatewayError('discovery_failed', `${where}: HTTP ${res.status}`, { status: res.status });
  let body: unknown;
  try {
    body = await res.json();
  } catch (e) {
    throw new GatewayError('discovery_failed', `${where}: the response is not JSON`, { cause: e });
  }
  const parsed = TransmitterMetadata.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError('discovery_failed', `${where}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  if (parsed.data.issuer !== issuer) {
    throw new GatewayError('discovery_failed', `${where}: "issuer" is "${parsed.data.issuer}", expected exactly "${issuer}"`);
  }
  const jwks = parseUrl(parsed.data.jwks_uri);
  if (!jwks || !isAllowedUrl(jwks)) {
    throw new GatewayError('discovery_failed', `${where}: "jwks_uri" must be an https URL (http only on loopback)`);
  }
  return parsed.data;
}

export interface TransmitterKeysOptions {
  issuer: string;
  deps: Pick<Deps, 'fetch' | 'now'>;
  /** How long the SSF configuration is trusted before it is fetched again. Default 1 hour. */
  metadataTtlMs?: number;
  /** jose: how long a fetched JWKS is used. Default 10 minutes. */
  jwksMaxAgeMs?: number;
  /** jose: the floor between two JWKS fetches triggered by an unknown `kid`. Default 30 s. */
  jwksCooldownMs?: number;
  timeoutMs?: number;
}

/**
 * Metadata and keys of one transmitter, cached. An unknown `kid` refetches the JWKS at most once per
 * cooldown (jose's createRemoteJWKSet), so a flood of forged SETs cannot turn into a flood of fetches.
 */
export class TransmitterKeys {
  private metadata?: { value: TransmitterMetadata; fetchedAt: number };
  private metadataInFlight?: Promise<TransmitterMetadata>;
  private jwks?: { uri: string; get: JWTVerifyGetKey };

  constructor(private readonly opts: TransmitterKeysOptions) {}

  get issuer(): string {
    return this.opts.issuer;
  }

  async getMetadata(): Promise<TransmitterMetadata> {
    const ttl = this.opts.metadataTtlMs ?? 3_600_000;
    if (this.metadata && this.opts.deps.now() - this.metadata.fetchedAt < ttl) return this.metadata.value;
    this.metadataInFlight ??= this.fetchMetadata().finally(() => (this.metadataInFlight = undefined));
    return this.metadataInFlight;
  }

  /** The key resolver for jose's verify functions. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const meta = await this.getMetadata();
    if (this.jwks?.uri !== meta.jwks_uri) {
      this.jwks = {
        uri: meta.jwks_uri,
        get: createRemoteJWKSet(new URL(meta.jwks_uri), {
          timeoutDuration: this.opts.timeoutMs ?? 10_000,
          cooldownDuration: this.opts.jwksCooldownMs ?? 30_000,
          cacheMaxAge: this.opts.jwksMaxAgeMs ?? 600_000,
          [customFetch]: (url, init) => this.opts.deps.fetch(url, init as RequestInit),
        }),
      };
    }
    return this.jwks.get(header, token);
  };

  private async fetchMetadata(): Promise<TransmitterMetadata> {
    let res: Response;
    try {
      res = await this.opts.deps.fetch(buildMetadataRequest(this.opts.issuer), { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
    } catch (e) {
      throw new GatewayError('discovery_failed', `SSF configuration of ${this.opts.issuer}: ${describeNetworkError(e)}`, { cause: e });
    }
    const value = await processMetadataResponse(this.opts.issuer, res);
    this.metadata = { value, fetchedAt: this.opts.deps.now() };
    return value;
  }
}
