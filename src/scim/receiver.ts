import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AuditSink } from '../audit/types.js';
import type { RuntimeConfig } from '../config/index.js';
import { GatewayError, payloadTooLarge } from '../errors.js';
import type { Logger } from '../log.js';
import { safeEqual } from '../security.js';
import type { LookupUserByEmail } from '../ssf/subject.js';
import type { ScimResourceType, ScimStore } from '../store/types.js';
import { LIMITS, SCHEMAS, SCIM_BASE_PATH, SCIM_MEDIA_TYPE } from './constants.js';
import { resourceTypes, schemas, serviceProviderConfig } from './discovery.js';
import { invalid, scimError, scimErrorResponse } from './errors.js';
import type { ScimControl } from './provisioning.js';
import { ScimService, type ScimRequest, type ScimResult } from './service.js';
import { resolveScimClients, type ScimClient } from './settings.js';

/**
 * The SCIM 2.0 receiver (RFC 7644) at /scim/v2: the IdP's provisioning client creates, updates and
 * deactivates Users and Groups, and deprovisioning disables the user at the gateway on every instance
 * (through the store's kill switches). Each IdP connection authenticates with its own bearer token
 * and has its own namespace of resources.
 */

export interface ScimReceiverOptions {
  /** The running config (a ConfigStore): clients follow reloads. */
  config: { readonly current: RuntimeConfig };
  store: ScimStore;
  control: ScimControl;
  audit: Pick<AuditSink, 'append'>;
  logger: Logger;
  now: () => number;
  lookupUserByEmail: LookupUserByEmail;
  /** Where `{"env": ...}` secrets are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface ScimReceiver {
  /** Mount at the root of the gateway's app. */
  routes: Hono;
  /** The clients in force (undefined: no `scim` section). */
  clients(): ScimClient[] | undefined;
}

type Env = { Variables: { scim: ScimRequest } };

const RESOURCES: Record<string, ScimResourceType> = { Users: 'User', Groups: 'Group' };
const ENDPOINTS = 'the receiver serves Users, Groups, ServiceProviderConfig, ResourceTypes and Schemas (Bulk and /Me are not supported)';
/** A request id the IdP sent that is safe to echo and record. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function createScimReceiver(opts: ScimReceiverOptions): ScimReceiver {
  const env = opts.env ?? process.env;
  let cache: { runtime: RuntimeConfig; clients: ScimClient[] | undefined } | undefined;
  const clients = (): ScimClient[] | undefined => {
    const runtime = opts.config.current;
    if (cache?.runtime !== runtime) {
      try {
        cache = { runtime, clients: resolveScimClients(runtime, env) };
      } catch (e) {
        // At start this throws; after a reload the previous clients stay in force.
        if (!cache) throw e;
        opts.logger.error('scim settings of the reloaded config refused; the previous ones stay in force', { error: (e as Error).message });
        cache = { runtime, clients: cache.clients };
      }
    }
    return cache.clients;
  };
  clients();

  const service = new ScimService({
    store: opts.store,
    control: opts.control,
    audit: opts.audit,
    logger: opts.logger,
    now: opts.now,
    lookupUserByEmail: opts.lookupUserByEmail,
  });

  const app = new Hono<Env>();
  const base = SCIM_BASE_PATH;

  app.use(`${base}/*`, async (c, next) => {
    const sent = c.req.header('x-request-id') ?? c.req.header('client-request-id');
    const requestId = sent && REQUEST_ID.test(sent) ? sent : randomUUID();
    try {
      const all = clients();
      if (!all) throw scimError('scim_not_found', 'this gateway has no SCIM receiver (no "scim" section in its config)');
      const client = authenticate(c.req.header('authorization'), all);
      const publicUrl = opts.config.current.config.server?.publicUrl;
      const baseUrl = `${publicUrl ? new URL(publicUrl).origin : new URL(c.req.url).origin}${base}`;
      const ifMatch = c.req.header('if-match');
      c.set('scim', { client, requestId, baseUrl, ...(ifMatch === undefined ? {} : { ifMatch }) });
      await next();
    } catch (e) {
      c.res = scimErrorResponse(e);
    }
    c.res.headers.set('X-Request-Id', requestId);
  });
  app.use(
    `${base}/*`,
    bodyLimit({
      maxSize: LIMITS.maxBodyBytes,
      onError: () => {
        // Answered before the rest of the body is read: the connection cannot be used again.
        const res = scimErrorResponse(payloadTooLarge(LIMITS.maxBodyBytes, undefined));
        res.headers.set('Connection', 'close');
        return res;
      },
    }),
  );

  const answer = (c: Context<Env>, run: (req: ScimRequest) => Promise<ScimResult>) =>
    Promise.resolve()
      .then(() => run(c.get('scim')))
      .then(
        (r) => respond(r),
        (e: unknown) => {
          const res = scimErrorResponse(e);
          if (res.status >= 500)
            opts.logger.error('SCIM request failed', { requestId: c.get('scim').requestId, path: c.req.path, error: (e as Error).message });
          return res;
        },
      );
  const type = (c: Context<Env>): ScimResourceType => {
    const t = RESOURCES[c.req.param('resource') ?? ''];
    if (!t) throw scimError('scim_not_found', `no SCIM endpoint ${c.req.path}: ${ENDPOINTS}`);
    return t;
  };
  const query = (c: Context<Env>) => ({
    filter: c.req.query('filter'),
    startIndex: c.req.query('startIndex'),
    count: c.req.query('count'),
    attributes: c.req.query('attributes'),
    excludedAttributes: c.req.query('excludedAttributes'),
  });

  app.get(`${base}/ServiceProviderConfig`, (c) => respond({ status: 200, body: serviceProviderConfig(c.get('scim').baseUrl) }));
  app.get(`${base}/ResourceTypes`, (c) => respond({ status: 200, body: listOf(resourceTypes(c.get('scim').baseUrl)) }));
  app.get(`${base}/ResourceTypes/:id`, (c) => byId(resourceTypes(c.get('scim').baseUrl), c.req.param('id'), 'ResourceType'));
  app.get(`${base}/Schemas`, (c) => respond({ status: 200, body: listOf(schemas(c.get('scim').baseUrl)) }));
  app.get(`${base}/Schemas/:id`, (c) => byId(schemas(c.get('scim').baseUrl), c.req.param('id'), 'Schema'));

  app.get(`${base}/:resource`, (c) => answer(c, (req) => service.list(type(c), query(c), req)));
  app.post(`${base}/:resource`, (c) => answer(c, async (req) => service.create(type(c), await body(c), req)));
  app.get(`${base}/:resource/:id`, (c) => answer(c, (req) => service.get(type(c), c.req.param('id'), query(c), req)));
  app.put(`${base}/:resource/:id`, (c) => answer(c, async (req) => service.replace(type(c), c.req.param('id'), await body(c), req)));
  app.patch(`${base}/:resource/:id`, (c) => answer(c, async (req) => service.patch(type(c), c.req.param('id'), await body(c), req)));
  app.delete(`${base}/:resource/:id`, (c) => answer(c, (req) => service.remove(type(c), c.req.param('id'), req)));
  app.all(`${base}/*`, (c) => scimErrorResponse(scimError('scim_not_found', `no SCIM endpoint ${c.req.method} ${c.req.path}: ${ENDPOINTS}`)));

  return { routes: app as unknown as Hono, clients };
}

/** The client whose token the request carries, compared with every client's in constant time. */
function authenticate(header: string | undefined, clients: ScimClient[]): ScimClient {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) {
    // RFC 6750 §3.1: no credentials, so the challenge carries no error code.
    throw new GatewayError('scim_unauthorized', 'send the SCIM token of this IdP connection as "Authorization: Bearer <token>"', {
      details: { missing: true },
    });
  }
  let found: ScimClient | undefined;
  for (const c of clients) if (safeEqual(m[1]!, c.token) && !found) found = c;
  if (!found) throw scimError('scim_unauthorized', 'the bearer token is not the SCIM token of any configured IdP connection (scim.clients[].token)');
  return found;
}

/** The JSON body of a write, in a SCIM or JSON media type (RFC 7644 §3.1, §8.1). */
async function body(c: Context<Env>): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== SCIM_MEDIA_TYPE && type !== 'application/json') {
    throw invalid(
      'invalidSyntax',
      `Content-Type must be ${SCIM_MEDIA_TYPE} (RFC 7644 §8.1) or application/json, got ${type ? `"${type.slice(0, 60)}"` : 'none'}`,
    );
  }
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalid('invalidSyntax', `the body is not JSON: ${(e as Error).message}`);
  }
}

function respond(r: ScimResult): Response {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (r.body !== undefined) headers['Content-Type'] = SCIM_MEDIA_TYPE;
  if (r.etag) headers.ETag = r.etag;
  if (r.location && r.status === 201) headers.Location = r.location;
  return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers });
}

function listOf(items: Array<Record<string, unknown>>) {
  return { schemas: [SCHEMAS.listResponse], totalResults: items.length, startIndex: 1, itemsPerPage: items.length, Resources: items };
}

function byId(items: Array<Record<string, unknown>>, id: string, what: string): Response {
  const found = items.find((x) => x.id === id);
  return found ? respond({ status: 200, body: found }) : scimErrorResponse(scimError('scim_not_found', `${what} "${id.slice(0, 100)}" not found`));
}
