import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { AuditEvent, AuditRecord, AuditSink } from '../../src/audit/types.js';
import { buildRuntimeConfig, type GatewayConfigInput, type RuntimeConfig } from '../../src/config/index.js';
import type { Actor, RevocationSummary, SecurityControl, UserRef } from '../../src/domain/control.js';
import { GatewayError } from '../../src/errors.js';

/** The SecurityControl the receiver drives, as a recorder (the real one is src/control's ControlService). */
export class FakeControl implements SecurityControl {
  calls: Array<{ method: 'disableUser' | 'enableUser' | 'revokeUser'; user: UserRef; reason: string; actor: Actor; eventTime?: number }> = [];
  disabled = new Set<string>();
  /** Next calls throw this many times (store down). */
  failNext = 0;
  readonly summary: RevocationSummary = { downstreamTokens: 2, sessions: 1, refreshTokens: 3 };

  private record(method: FakeControl['calls'][number]['method'], user: UserRef, reason: string, actor: Actor, eventTime?: number) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new GatewayError('store_unavailable', 'store down (test)');
    }
    this.calls.push({ method, user, reason, actor, ...(eventTime === undefined ? {} : { eventTime }) });
  }
  async disableUser(user: UserRef, reason: string, actor: Actor) {
    this.record('disableUser', user, reason, actor);
    this.disabled.add(`${user.iss} ${user.sub}`);
    return this.summary;
  }
  async enableUser(user: UserRef, reason: string, actor: Actor, eventTime?: number) {
    this.record('enableUser', user, reason, actor, eventTime);
    return this.disabled.delete(`${user.iss} ${user.sub}`);
  }
  async revokeUser(user: UserRef, reason: string, actor: Actor) {
    this.record('revokeUser', user, reason, actor);
    return this.summary;
  }
}

export class MemorySink implements AuditSink {
  records: AuditEvent[] = [];
  failing = false;
  async append(event: AuditEvent): Promise<AuditRecord> {
    if (this.failing) throw new GatewayError('audit_unavailable', 'audit down (test)');
    this.records.push(event);
    return { ...event, time: '', id: '', seq: this.records.length, prevHash: '', hash: '' };
  }
  async close() {}
}

export const ENV = { IDP_SECRET: 'idp-secret', ENC_KEY: Buffer.alloc(32, 7).toString('base64'), PUSH_TOKEN: 'push-token-123', POLL_TOKEN: 'poll-token-456' };

/** A parsed config: the IdP, a server section and the given `ssf` section. */
export function runtimeWith(ssf: GatewayConfigInput['ssf'], opts: { publicUrl?: string; idp?: string } = {}): RuntimeConfig {
  const cfg: GatewayConfigInput = {
    idp: { issuer: opts.idp ?? 'https://idp.test', clientId: 'xaa-gateway', auth: { method: 'client_secret_basic', clientSecret: { env: 'IDP_SECRET' } } },
    server: { publicUrl: opts.publicUrl ?? 'https://gw.test', encryptionKey: { env: 'ENC_KEY' } },
    ...(ssf ? { ssf } : {}),
  };
  return buildRuntimeConfig(cfg, '/nonexistent/mcp.config.json', randomUUID(), ENV);
}

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newKey(kid = `k-${randomUUID().slice(0, 8)}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/**
 * A transmitter served from memory through an injected fetch: its SSF configuration and JWKS.
 * `fetches` counts requests by path; `down` makes every request fail (network).
 */
export class FakeTransmitter {
  keys: TestKey[] = [];
  fetches: Record<string, number> = {};
  down = false;
  constructor(readonly issuer = 'https://idp.test') {}

  static async create(issuer?: string): Promise<FakeTransmitter> {
    const t = new FakeTransmitter(issuer);
    t.keys.push(await newKey('idp-1'));
    return t;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    this.fetches[url.pathname] = (this.fetches[url.pathname] ?? 0) + 1;
    if (this.down) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    void init;
    if (url.href === `${this.issuer}/.well-known/ssf-configuration`) {
      return Response.json({
        spec_version: '1_0',
        issuer: this.issuer,
        jwks_uri: `${this.issuer}/jwks`,
        delivery_methods_supported: ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936'],
      });
    }
    if (url.href === `${this.issuer}/jwks`) return Response.json({ keys: this.keys.map((k) => k.publicJwk) });
    return new Response('not found', { status: 404 });
  };

  /** A SET as the transmitter would sign it; `claims` and `header` override the defaults (undefined removes). */
  async sign(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: TestKey = this.keys[0]!): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const base: Record<string, unknown> = {
      iss: this.issuer,
      aud: 'https://gw.test',
      iat: now,
      jti: randomUUID(),
      sub_id: { format: 'iss_sub', iss: this.issuer, sub: 'u-alice' },
      events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { event_timestamp: now, initiating_entity: 'admin' } },
    };
    const payload = Object.fromEntries(Object.entries({ ...base, ...claims }).filter(([, v]) => v !== undefined)) as JWTPayload;
    const h = Object.fromEntries(Object.entries({ alg: 'ES256', kid: key.kid, typ: 'secevent+jwt', ...header }).filter(([, v]) => v !== undefined));
    return new SignJWT(payload).setProtectedHeader(h as { alg: string }).sign(key.privateKey);
  }
}

export const pushInit = (set: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/secevent+jwt', Accept: 'application/json', ...headers },
  body: set,
});
