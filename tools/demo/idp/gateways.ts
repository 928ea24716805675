import { z } from 'zod';
import type { IdpContext, IdpKnownGateway } from './context.js';
import type { DemoUser } from '../seed.js';
import { GATEWAY_CLIENT_ID } from '../seed.js';

/**
 * The gateways' authorization servers the IdP trusts (draft-parecki-oauth-identity-assertion-gateways):
 * it issues ID-JAGs whose audience is one of them, and takes those ID-JAGs back, in the chained
 * exchange, from the client that operates it.
 */

/** An RFC 6749 §3.3 scope-token. */
const ScopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'not a scope token');

export const GatewaySchema = z.strictObject({
  issuer: z
    .url({ protocol: /^https?$/ })
    .refine((u) => !u.endsWith('/'), 'the issuer is the public URL without trailing slash')
    .refine((u) => !/[?#]/.test(u), 'an issuer has no query or fragment (RFC 8414 §2)'),
  resource: z.url({ protocol: /^https?$/ }),
  scopes: z.array(ScopeToken),
  operatedBy: z.string().min(1).optional(),
});

/** Registers (or replaces, for the same issuer) a gateway; throws on bad input, naming the field. */
export function trustGateway(ctx: IdpContext, input: unknown): IdpKnownGateway {
  const parsed = GatewaySchema.safeParse(input);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(gateway)'}: ${i.message}`).join('; '));
  const { issuer, resource, scopes, operatedBy = GATEWAY_CLIENT_ID } = parsed.data;
  if (!ctx.clients.has(operatedBy)) throw new Error(`operatedBy: "${operatedBy}" is not a client of the demo IdP`);
  if (issuer === ctx.issuer || ctx.apps.some((a) => a.issuer === issuer)) throw new Error(`issuer: "${issuer}" is already the IdP's or an app's`);
  const gateway: IdpKnownGateway = { issuer, resource, scopes: [...new Set(scopes)], operatedBy };
  ctx.gateways.set(issuer, gateway);
  return gateway;
}

/** The gateway AS `issuer` names, when the client `clientId` operates it. */
export function gatewayOperatedBy(ctx: IdpContext, issuer: string, clientId: string): IdpKnownGateway | undefined {
  const gateway = ctx.gateways.get(issuer);
  return gateway?.operatedBy === clientId ? gateway : undefined;
}

/**
 * Administrator policy for ID-JAGs whose audience is a gateway: every active user may use it (no
 * per-user assignment, unlike the apps). The client's gateway connection is checked apart.
 */
export function userMayUseGateway(user: Pick<DemoUser, 'active'>): boolean {
  return user.active;
}
