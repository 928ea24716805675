import type { ScimResourceRecord, ScimResourceType } from '../store/types.js';
import { LIMITS, SCHEMAS } from './constants.js';
import { invalid } from './errors.js';

/**
 * SCIM Users and Groups as the receiver takes them in and gives them back (RFC 7643 §4). What an IdP
 * sends is kept (names, emails, its extensions), minus what the gateway owns (`id`, `meta`) or must
 * never hold (`password`, RFC 7643 §4.1.1: writeOnly), and checked for what the gateway acts on:
 * `userName`, `externalId`, `active`, a Group's `displayName` and `members`.
 */

export type Json = Record<string, unknown>;

/** A user as the gateway reads it. */
export interface ScimUserView {
  id: string;
  userName: string;
  externalId?: string;
  active: boolean;
  /** The primary email, else the first, else a userName that looks like one. */
  email?: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys that would reach an object's prototype if a library assigned them: refused anywhere in a body. */
const POISONED = new Set(['__proto__', 'constructor', 'prototype']);

/** Walks a body: depth bounded, no key that could touch a prototype. `where` names the place for the error. */
export function checkShape(v: unknown, where: string, depth = 0): void {
  if (depth > LIMITS.maxDepth) throw invalid('invalidValue', `${where}: nested deeper than ${LIMITS.maxDepth} levels`);
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkShape(x, `${where}[${i}]`, depth + 1));
    return;
  }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (POISONED.has(k)) throw invalid('invalidValue', `${where}: the attribute name "${k}" is not allowed`);
    checkShape(x, `${where}.${k}`, depth + 1);
  }
}

/**
 * Entra sends booleans as the strings "True" and "False" in PATCH values (a documented quirk); RFC 7643
 * §2.3.2 booleans are JSON true/false. Both are taken.
 */
function bool(v: unknown, where: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalid('invalidValue', `${where} must be true or false (RFC 7643 §2.3.2), got ${JSON.stringify(v)?.slice(0, 40)}`);
}

function str(v: unknown, where: string, max: number, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw invalid('invalidValue', `${where} is required (RFC 7643 §4)`);
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') throw invalid('invalidValue', `${where} must be a non-empty string`);
  if (v.length > max) throw invalid('invalidValue', `${where} is longer than ${max} characters`);
  return v;
}

/** The attributes of a body the service provider owns or never stores. */
const DROPPED: Record<ScimResourceType, readonly string[]> = {
  User: ['id', 'meta', 'password', 'groups'],
  Group: ['id', 'meta'],
};

/** Attribute lookup by name, case-insensitively (RFC 7643 §2.1: attribute names are case-insensitive). */
function attr(o: Json, name: string): [key: string, value: unknown] | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === want) return [k, v];
  return undefined;
}

/**
 * A User or Group body (POST, PUT, or the result of a PATCH) made into what is stored: checked, its
 * core attributes in their canonical case, `active` a boolean (default true), what is dropped gone.
 */
export function normalizeResource(type: ScimResourceType, body: unknown): { resource: Json; name: string; externalId?: string } {
  if (!isObject(body)) throw invalid('invalidSyntax', `the body must be a JSON object (a SCIM ${type})`);
  checkShape(body, type);
  const core = type === 'User' ? SCHEMAS.user : SCHEMAS.group;
  const schemas = attr(body, 'schemas')?.[1];
  if (!Array.isArray(schemas) || !schemas.every((s) => typeof s === 'string') || !schemas.includes(core)) {
    throw invalid('invalidValue', `schemas must be an array that includes "${core}" (RFC 7643 §3)`);
  }
  const dropped = new Set(DROPPED[type]);
  const resource: Json = {};
  for (const [k, v] of Object.entries(body)) if (!dropped.has(k.toLowerCase()) && v !== null) resource[k] = v;
  const take = (name: string): unknown => {
    const hit = attr(resource, name);
    if (!hit) return undefined;
    delete resource[hit[0]];
    return hit[1];
  };
  take('schemas');
  const externalId = str(take('externalId'), 'externalId', 1024, false);
  const out: Json = { schemas };
  let name: string;
  if (type === 'User') {
    name = str(take('userName'), 'userName', 256, true)!;
    const active = take('active');
    out.userName = name;
    out.active = active === undefined ? true : bool(active, 'active');
    const emails = take('emails');
    if (emails !== undefined) out.emails = checkEmails(emails);
  } else {
    name = str(take('displayName'), 'displayName', 256, true)!;
    out.displayName = name;
    const members = take('members');
    out.members = members === undefined ? [] : checkMembers(members);
  }
  if (externalId !== undefined) out.externalId = externalId;
  return { resource: { ...out, ...resource }, name, ...(externalId === undefined ? {} : { externalId }) };
}

function checkEmails(v: unknown): Json[] {
  if (!Array.isArray(v)) throw invalid('invalidValue', 'emails must be an array of {"value": ...} (RFC 7643 §4.1.2)');
  if (v.length > 100) throw invalid('invalidValue', 'emails: at most 100');
  return v.map((e, i) => {
    if (!isObject(e)) throw invalid('invalidValue', `emails[${i}] must be an object with "value"`);
    const out: Json = { ...e, value: str(e.value, `emails[${i}].value`, 320, true) };
    if (e.primary !== undefined) out.primary = bool(e.primary, `emails[${i}].primary`);
    return out;
  });
}

function checkMembers(v: unknown): Json[] {
  if (!Array.isArray(v)) throw invalid('invalidValue', 'members must be an array of {"value": "<user id>"} (RFC 7643 §4.2)');
  if (v.length > LIMITS.maxMembers) throw invalid('invalidValue', `members: at most ${LIMITS.maxMembers} per group`);
  const seen = new Map<string, Json>();
  v.forEach((m, i) => {
    if (!isObject(m)) throw invalid('invalidValue', `members[${i}] must be an object with "value"`);
    const value = str(m.value, `members[${i}].value`, 256, true)!;
    if (typeof m.type === 'string' && m.type !== 'User')
      throw invalid('invalidValue', `members[${i}].type: only User members are supported (no nested groups)`);
    const member: Json = { value };
    if (typeof m.display === 'string') member.display = m.display.slice(0, 256);
    seen.set(value, member); // the same member twice is one membership
  });
  return [...seen.values()];
}

/** Member ids of a stored group. */
export function memberIds(group: ScimResourceRecord): string[] {
  const members = group.resource.members;
  return Array.isArray(members) ? members.map((m) => String((m as Json).value)) : [];
}

/** What the gateway needs of a stored user. */
export function userView(rec: ScimResourceRecord): ScimUserView {
  const r = rec.resource;
  const emails = Array.isArray(r.emails) ? (r.emails as Json[]) : [];
  const primary = emails.find((e) => e.primary === true) ?? emails[0];
  const email = typeof primary?.value === 'string' ? primary.value : rec.name.includes('@') ? rec.name : undefined;
  return {
    id: rec.id,
    userName: rec.name,
    ...(rec.externalId === undefined ? {} : { externalId: rec.externalId }),
    active: r.active !== false,
    ...(email === undefined ? {} : { email }),
  };
}

/** The ETag of a version (RFC 7644 §3.14: weak, since the representation may vary with `attributes`). */
export const etagOf = (version: number): string => `W/"${version}"`;

/** The version an If-Match / If-None-Match value names; undefined for `*` or an ETag not of this server. */
export function versionOfEtag(etag: string): number | undefined {
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(etag.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * A stored resource as the IdP reads it: `id` and `meta` (RFC 7643 §3.1) added; a User's `groups`
 * (readOnly, RFC 7643 §4.1.2) from the groups it is a member of.
 */
export function render(rec: ScimResourceRecord, baseUrl: string, groups?: Array<{ id: string; name: string }>): Json {
  const plural = rec.type === 'User' ? 'Users' : 'Groups';
  const location = `${baseUrl}/${plural}/${encodeURIComponent(rec.id)}`;
  return {
    ...rec.resource,
    id: rec.id,
    ...(groups ? { groups: groups.map((g) => ({ value: g.id, display: g.name, $ref: `${baseUrl}/Groups/${encodeURIComponent(g.id)}` })) } : {}),
    meta: {
      resourceType: rec.type,
      created: new Date(rec.created).toISOString(),
      lastModified: new Date(rec.updated).toISOString(),
      version: etagOf(rec.version),
      location,
    },
  };
}

/**
 * RFC 7644 §3.4.2.5 `attributes` / `excludedAttributes`, at the top level (what Okta and Entra send:
 * Entra asks for groups with `excludedAttributes=members`). `id`, `schemas` and `meta` are always returned.
 */
export function project(r: Json, attributes?: string, excluded?: string): Json {
  const names = (s: string) =>
    new Set(
      s
        .split(',')
        .map((x) => x.trim().split('.')[0]!.split(':').at(-1)!.toLowerCase())
        .filter(Boolean),
    );
  const always = new Set(['id', 'schemas', 'meta']);
  if (attributes) {
    const keep = names(attributes);
    return Object.fromEntries(Object.entries(r).filter(([k]) => always.has(k) || keep.has(k.toLowerCase())));
  }
  if (excluded) {
    const drop = names(excluded);
    return Object.fromEntries(Object.entries(r).filter(([k]) => always.has(k) || !drop.has(k.toLowerCase())));
  }
  return r;
}
