import { randomUUID } from 'node:crypto';
import { patchBodyValidation, scimPatch, type ScimPatch, type ScimPatchOperation } from 'scim-patch';
import type { AuditEvent, AuditSink } from '../audit/types.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LookupUserByEmail } from '../ssf/subject.js';
import type { ScimResourceRecord, ScimResourceType, ScimStore, ScimWriteResult } from '../store/types.js';
import { LIMITS, SCHEMAS } from './constants.js';
import { invalid, scimError } from './errors.js';
import { parseFilter } from './filter.js';
import { reconcileUser, type ScimControl, type UserEffect } from './provisioning.js';
import { checkShape, etagOf, memberIds, normalizeResource, project, render, versionOfEtag, type Json } from './resources.js';
import type { ScimClient } from './settings.js';

/**
 * The SCIM operations on Users and Groups (RFC 7644 §3.2-3.6), per client namespace, over the
 * store. Every write is conditional on the version read (retried when the IdP sent no If-Match),
 * then the users it touched are reconciled (provisioning.ts), then one `scim_request` audit record
 * says what was asked and what it did, with the request id the IdP got back.
 */

export interface ScimServiceOptions {
  store: ScimStore;
  control: ScimControl;
  audit: Pick<AuditSink, 'append'>;
  logger: Logger;
  now: () => number;
  lookupUserByEmail: LookupUserByEmail;
}

/** One request: who sent it, its id, its preconditions. */
export interface ScimRequest {
  client: ScimClient;
  requestId: string;
  /** The base URL the IdP uses (…/scim/v2), for `meta.location`. */
  baseUrl: string;
  ifMatch?: string;
}

export interface ScimResult {
  status: number;
  body?: Json;
  etag?: string;
  location?: string;
}

export interface ListQuery {
  filter?: string;
  startIndex?: string;
  count?: string;
  attributes?: string;
  excludedAttributes?: string;
}

const PLURAL: Record<ScimResourceType, string> = { User: 'Users', Group: 'Groups' };
const RETRIES = 3;

export class ScimService {
  constructor(private readonly opts: ScimServiceOptions) {}

  async list(type: ScimResourceType, q: ListQuery, req: ScimRequest): Promise<ScimResult> {
    const startIndex = Math.max(1, intParam(q.startIndex, 'startIndex') ?? 1);
    const count = Math.min(LIMITS.maxResults, Math.max(0, intParam(q.count, 'count') ?? LIMITS.maxResults));
    const client = req.client.name;
    let matched: ScimResourceRecord[];
    const groups = type === 'User' ? await this.opts.store.findScimResources(client, 'Group') : [];
    if (q.filter !== undefined && q.filter.trim() !== '') {
      const f = parseFilter(q.filter, type);
      if (f.kind === 'lookup') {
        if (f.attribute === 'id') {
          const one = await this.opts.store.getScimResource(client, type, f.value);
          matched = one ? [one] : [];
        } else matched = await this.opts.store.findScimResources(client, type, f.attribute === 'name' ? { name: f.value } : { externalId: f.value });
      } else {
        const all = await this.opts.store.findScimResources(client, type);
        matched = all.filter((r) => f.test(this.#render(r, req.baseUrl, groups)));
      }
    } else matched = await this.opts.store.findScimResources(client, type);
    const page = matched.slice(startIndex - 1, startIndex - 1 + count);
    return {
      status: 200,
      body: {
        schemas: [SCHEMAS.listResponse],
        totalResults: matched.length,
        startIndex,
        itemsPerPage: page.length,
        Resources: page.map((r) => project(this.#render(r, req.baseUrl, groups), q.attributes, q.excludedAttributes)),
      },
    };
  }

  async get(type: ScimResourceType, id: string, q: ListQuery, req: ScimRequest): Promise<ScimResult> {
    const rec = await this.#must(type, id, req);
    const groups = type === 'User' ? await this.opts.store.findScimResources(req.client.name, 'Group') : [];
    return this.#answer(200, rec, req, groups, q);
  }

  async create(type: ScimResourceType, body: unknown, req: ScimRequest): Promise<ScimResult> {
    const write = normalizeResource(type, body);
    if (type === 'Group') await this.#checkMembers(write.resource, req);
    const result = await this.opts.store.createScimResource(req.client.name, type, randomUUID(), write, this.opts.now());
    if (!result.ok) throw scimError('scim_conflict', `a User with userName "${write.name}" exists already in SCIM client "${req.client.name}"`, 'uniqueness');
    const effects = await this.#reconcile(type, undefined, result.record, req);
    await this.#audit(req, 'POST', type, result.record, 201, effects);
    return this.#answer(201, result.record, req);
  }

  async replace(type: ScimResourceType, id: string, body: unknown, req: ScimRequest): Promise<ScimResult> {
    const write = normalizeResource(type, body);
    if (type === 'Group') await this.#checkMembers(write.resource, req);
    const { before, after } = await this.#update(type, id, req, async () => write);
    const effects = await this.#reconcile(type, before, after, req);
    await this.#audit(req, 'PUT', type, after, 200, effects);
    return this.#answer(200, after, req);
  }

  async patch(type: ScimResourceType, id: string, body: unknown, req: ScimRequest): Promise<ScimResult> {
    const ops = patchOperations(body);
    const { before, after } = await this.#update(type, id, req, async (current) => {
      const write = normalizeResource(type, applyPatch(current, ops));
      if (type === 'Group') await this.#checkMembers(write.resource, req, current);
      return write;
    });
    const effects = await this.#reconcile(type, before, after, req);
    await this.#audit(req, 'PATCH', type, after, 200, effects);
    return this.#answer(200, after, req);
  }

  async remove(type: ScimResourceType, id: string, req: ScimRequest): Promise<ScimResult> {
    const current = await this.#must(type, id, req);
    const result = await this.opts.store.deleteScimResource(req.client.name, type, id, this.#expected(req, current));
    const deleted = this.#written(result, type, id);
    const effects = await this.#reconcile(type, deleted, undefined, req);
    await this.#audit(req, 'DELETE', type, deleted, 204, effects);
    return { status: 204 };
  }

  // ---- internals ----

  async #must(type: ScimResourceType, id: string, req: ScimRequest): Promise<ScimResourceRecord> {
    const rec = await this.opts.store.getScimResource(req.client.name, type, id);
    if (!rec) throw scimError('scim_not_found', `${type} "${id.slice(0, 100)}" not found`);
    return rec;
  }

  /** The version a write must find: If-Match's (412 when it is not the current one), else the one read. */
  #expected(req: ScimRequest, current: ScimResourceRecord): number {
    if (req.ifMatch === undefined || req.ifMatch.trim() === '*') return current.version;
    const wanted = req.ifMatch.split(',').map((e) => versionOfEtag(e));
    if (!wanted.includes(current.version)) {
      throw scimError(
        'scim_precondition_failed',
        `If-Match ${req.ifMatch.slice(0, 60)} does not match the current version ${etagOf(current.version)} (RFC 7644 §3.14)`,
      );
    }
    return current.version;
  }

  #written(result: ScimWriteResult, type: ScimResourceType, id: string): ScimResourceRecord {
    if (result.ok) return result.record;
    if (result.reason === 'not_found') throw scimError('scim_not_found', `${type} "${id.slice(0, 100)}" not found`);
    if (result.reason === 'uniqueness') throw scimError('scim_conflict', `another ${type} has that ${type === 'User' ? 'userName' : 'name'}`, 'uniqueness');
    throw scimError('scim_precondition_failed', `${type} "${id.slice(0, 100)}" was changed by another request meanwhile; read it again (RFC 7644 §3.14)`);
  }

  /** Read, change, write if unchanged meanwhile: retried on a concurrent change unless If-Match pinned the version. */
  async #update(
    type: ScimResourceType,
    id: string,
    req: ScimRequest,
    change: (current: ScimResourceRecord) => Promise<ReturnType<typeof normalizeResource>>,
  ): Promise<{ before: ScimResourceRecord; after: ScimResourceRecord }> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.#must(type, id, req);
      const write = await change(before);
      const result = await this.opts.store.updateScimResource(req.client.name, type, id, this.#expected(req, before), write, this.opts.now());
      if (result.ok || result.reason !== 'version' || req.ifMatch !== undefined || attempt >= RETRIES) {
        return { before, after: this.#written(result, type, id) };
      }
    }
  }

  /** A group's members must be users of this client (a membership nobody can resolve grants nothing). */
  async #checkMembers(resource: Json, req: ScimRequest, before?: ScimResourceRecord): Promise<void> {
    const ids = (resource.members as Json[]).map((m) => String(m.value));
    const known = new Set(before ? memberIds(before) : []);
    const added = ids.filter((id) => !known.has(id));
    if (added.length === 0) return;
    const users = new Set((await this.opts.store.findScimResources(req.client.name, 'User')).map((u) => u.id));
    const unknown = added.filter((id) => !users.has(id));
    if (unknown.length) {
      throw invalid(
        'invalidValue',
        `members: no User with id ${unknown
          .slice(0, 3)
          .map((x) => `"${x.slice(0, 60)}"`)
          .join(', ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''}`,
      );
    }
  }

  /** The users a change touched, reconciled with their entitlement. */
  async #reconcile(
    type: ScimResourceType,
    before: ScimResourceRecord | undefined,
    after: ScimResourceRecord | undefined,
    req: ScimRequest,
  ): Promise<UserEffect[]> {
    const client = req.client;
    const ctx = {
      client,
      control: this.opts.control,
      actor: { kind: 'scim' as const, client: client.name, requestId: req.requestId },
      lookupUserByEmail: this.opts.lookupUserByEmail,
    };
    const groups = await this.opts.store.findScimResources(client.name, 'Group');
    if (type === 'User') {
      const rec = after ?? before!;
      return reconcileUser(rec, after === undefined, groups, ctx);
    }
    // A group matters only if it grants access (before or after a rename).
    const wanted = new Set(client.accessGroups.map((g) => g.toLowerCase()));
    if (![before, after].some((g) => g && wanted.has(g.name.toLowerCase()))) return [];
    const touched = new Set([...(before ? memberIds(before) : []), ...(after ? memberIds(after) : [])]);
    const out: UserEffect[] = [];
    for (const id of touched) {
      const user = await this.opts.store.getScimResource(client.name, 'User', id);
      if (user) out.push(...(await reconcileUser(user, false, groups, ctx)));
    }
    return out;
  }

  async #audit(req: ScimRequest, method: string, type: ScimResourceType, rec: ScimResourceRecord, status: number, effects: UserEffect[]): Promise<void> {
    const acted = effects.filter((e) => e.effect !== 'none');
    const first = effects.find((e) => e.user)?.user;
    const event: AuditEvent = {
      type: 'scim_request',
      phase: 'outcome',
      traceId: randomUUID(),
      ...(type === 'User' && first ? { user: first } : {}),
      reason: `SCIM ${req.client.name}: ${method} ${PLURAL[type]}/${rec.id} (${rec.name})${acted.length ? `: ${acted.map(describe).join('; ')}` : ''}`,
      outcome: { ok: true, status },
      scim: {
        client: req.client.name,
        requestId: req.requestId,
        method,
        resourceType: type,
        id: rec.id,
        name: rec.name,
        ...(rec.externalId === undefined ? {} : { externalId: rec.externalId }),
        effects: effects.map((e) => ({
          scimId: e.scimId,
          userName: e.userName,
          effect: e.effect,
          ...(e.user ? { user: e.user } : {}),
          ...(e.why ? { why: e.why } : {}),
          ...(e.revoked ? { revoked: e.revoked } : {}),
        })),
      },
    };
    try {
      await this.opts.audit.append(event);
    } catch (e) {
      // The change is made and its switches recorded by src/control; this summary is lost, not the effect.
      this.opts.logger.error('audit log unavailable: SCIM request applied but its record not written', {
        requestId: req.requestId,
        error: toGatewayError(e).message,
      });
    }
    for (const e of acted) {
      this.opts.logger[e.effect === 'deprovisioned' ? 'warn' : 'info']('SCIM provisioning', {
        client: req.client.name,
        requestId: req.requestId,
        userName: e.userName,
        effect: e.effect,
        ...(e.why ? { why: e.why } : {}),
      });
    }
  }

  #render(rec: ScimResourceRecord, baseUrl: string, groups: readonly ScimResourceRecord[]): Json {
    const of = rec.type === 'User' ? groups.filter((g) => memberIds(g).includes(rec.id)).map((g) => ({ id: g.id, name: g.name })) : undefined;
    return render(rec, baseUrl, of);
  }

  #answer(status: number, rec: ScimResourceRecord, req: ScimRequest, groups?: readonly ScimResourceRecord[], q: ListQuery = {}): ScimResult {
    const body = project(this.#render(rec, req.baseUrl, groups ?? []), q.attributes, q.excludedAttributes);
    return { status, body, etag: etagOf(rec.version), location: `${req.baseUrl}/${PLURAL[rec.type]}/${encodeURIComponent(rec.id)}` };
  }
}

function describe(e: UserEffect): string {
  const who = e.user ? e.user.sub : e.userName;
  switch (e.effect) {
    case 'deprovisioned':
      return `${who} disabled (${e.why})`;
    case 'already_disabled':
      return `${who} already disabled (${e.why})`;
    case 'reprovisioned':
      return `${who} enabled again`;
    case 'kept_disabled':
      return `${who} stays disabled: a switch not set by SCIM is in force`;
    case 'unresolved':
      return `${e.userName} matches no gateway user${e.why ? ` (${e.why})` : ''}`;
    case 'none':
      return `${who} unchanged`;
  }
}

function intParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d{1,9}$/.test(v)) throw invalid('invalidValue', `${name} must be an integer (RFC 7644 §3.4.2.4), got ${JSON.stringify(v.slice(0, 20))}`);
  return Number(v);
}

/** The operations of a PATCH body (RFC 7644 §3.5.2), checked. */
function patchOperations(body: unknown): ScimPatchOperation[] {
  checkShape(body, 'PATCH');
  const b = body as Json | null;
  const ops = b && typeof b === 'object' ? (b.Operations ?? b.operations) : undefined;
  if (Array.isArray(ops) && ops.length > LIMITS.maxOperations) throw invalid('tooMany', `at most ${LIMITS.maxOperations} operations per PATCH`);
  try {
    patchBodyValidation({ ...(b as object), Operations: ops } as ScimPatch);
  } catch (e) {
    throw invalid('invalidSyntax', `not a SCIM PatchOp (RFC 7644 §3.5.2): ${(e as Error).message}`);
  }
  for (const [i, op] of (ops as ScimPatchOperation[]).entries()) {
    const path = (op as { path?: unknown }).path;
    if (path !== undefined && (typeof path !== 'string' || path.length > 512))
      throw invalid('invalidPath', `Operations[${i}].path must be a string of at most 512 characters`);
    if (typeof path === 'string' && /__proto__|constructor|prototype/i.test(path)) throw invalid('invalidPath', `Operations[${i}].path is not allowed`);
  }
  return ops as ScimPatchOperation[];
}

/**
 * Applies the operations to a copy of the resource. A remove whose filter matches nothing is a
 * no-op: the IdP retrying a membership removal it already made must succeed (idempotent replay).
 */
function applyPatch(current: ScimResourceRecord, ops: ScimPatchOperation[]): Json {
  let doc = structuredClone(current.resource) as Json;
  for (const [i, op] of ops.entries()) {
    try {
      doc = scimPatch(doc as never, [op], { mutateDocument: false, treatMissingAsAdd: true }) as unknown as Json;
    } catch (e) {
      const name = (e as Error).constructor?.name;
      if (op.op.toLowerCase() === 'remove' && (name === 'FilterArrayTargetNotFound' || name === 'FilterOnEmptyArray' || name === 'NoTarget')) continue;
      const scimType = (e as { scimCode?: string }).scimCode;
      throw invalid(
        scimType === 'noTarget' ? 'noTarget' : scimType === 'invalidPath' ? 'invalidPath' : 'invalidValue',
        `Operations[${i}]: ${(e as Error).message}`,
      );
    }
  }
  return doc;
}
