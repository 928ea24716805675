import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import type { AuditSink } from '../audit/types.js';
import type { XaaPort } from '../broker/broker.js';
import { isGatewayError } from '../errors.js';
import { GRANT_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE } from '../xaa/constants.js';
import type { AuthorizationServerMetadata } from '../xaa/types.js';
import type { Metrics, TokenGrant } from './metrics.js';
import { httpClientAttributes, inClientSpan } from './tracing.js';

/**
 * Wrappers that add metrics and spans around the parts the gateway already has, without changing
 * them: the protocol port the broker drives, and the audit sink.
 */

/** `result` label and `error.type` of a failed grant: the OAuth error code when the server sent one. */
export function grantErrorType(e: unknown): string {
  if (isGatewayError(e)) return e.oauthError ?? e.code;
  return e instanceof Error ? e.name : '_OTHER';
}

/**
 * Counts every token exchange (RFC 8693) and jwt-bearer grant (RFC 7523) by issuer and result, and
 * makes each a CLIENT span under the active one (the tools/call span when the broker mints for a call).
 */
export function instrumentXaaPort(port: XaaPort, obs: { metrics: Metrics; tracer: () => Tracer }): XaaPort {
  const observe = async <T>(
    grant: TokenGrant,
    grantType: string,
    server: AuthorizationServerMetadata,
    extra: Record<string, string>,
    call: () => Promise<T>,
  ): Promise<T> => {
    const issuer = typeof server?.issuer === 'string' ? server.issuer : 'unknown';
    let attributes;
    try {
      attributes = { ...httpClientAttributes('POST', server.token_endpoint), 'oauth.grant_type': grantType, 'xaa.server': issuer, ...extra };
    } catch {
      attributes = { 'oauth.grant_type': grantType, 'xaa.server': issuer, ...extra };
    }
    try {
      const result = await inClientSpan(obs.tracer(), `oauth ${grant}`, attributes, call, (e) => ({
        type: grantErrorType(e),
        ...(isGatewayError(e) && e.status !== undefined ? { attributes: { 'http.response.status_code': e.status } } : {}),
      }));
      obs.metrics.tokenRequest(grant, issuer, 'ok');
      return result;
    } catch (e) {
      obs.metrics.tokenRequest(grant, issuer, grantErrorType(e));
      throw e;
    }
  };
  return {
    discover: (issuer, options) => port.discover(issuer, options),
    requestIdJag: (params) =>
      observe('token_exchange', GRANT_TYPE_TOKEN_EXCHANGE, params.idp, { 'xaa.audience': params.audience, 'xaa.resource': params.resource }, () =>
        port.requestIdJag(params),
      ),
    redeemIdJag: (params) => observe('jwt_bearer', GRANT_TYPE_JWT_BEARER, params.as, {}, () => port.redeemIdJag(params)),
  };
}

/** Observes the time of each durable append (`xaa_audit_write_seconds`); failed appends are not timed. */
export function instrumentAuditSink<S extends AuditSink>(sink: S, metrics: Metrics): S {
  return new Proxy(sink, {
    get(target, prop) {
      if (prop === 'append') {
        return async (event: Parameters<AuditSink['append']>[0], options?: Parameters<AuditSink['append']>[1]) => {
          const t0 = performance.now();
          const record = await target.append(event, options);
          metrics.auditWrite((performance.now() - t0) / 1000);
          return record;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
