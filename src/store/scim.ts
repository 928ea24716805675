/**
 * SCIM resources (table scim_resources, src/scim): the Users and Groups an IdP provisions to the
 * gateway, per SCIM client. Shared by every instance through the store; every write is
 * conditional on the version read (RFC 7644 §3.14 ETags), so two instances taking requests about
 * the same resource at once cannot lose one another's change.
 */
import { json, num, optStr, parsed, type Row } from './rows.js';
import type { Queryable } from './sql.js';

export type ScimResourceType = 'User' | 'Group';

/** A stored SCIM resource: its attributes without `id` and `meta`, which the gateway owns. */
export interface ScimResourceRecord {
  client: string;
  type: ScimResourceType;
  id: string;
  /** userName (User) or displayName (Group). */
  name: string;
  externalId?: string;
  resource: Record<string, unknown>;
  /** Starts at 1, +1 on every change: the ETag. */
  version: number;
  created: number;
  updated: number;
}

/** What a write of a resource sets (the repository derives the indexed columns). */
export interface ScimResourceWrite {
  name: string;
  externalId?: string;
  resource: Record<string, unknown>;
}

/** The outcome of a conditional write. */
export type ScimWriteResult = { ok: true; record: ScimResourceRecord } | { ok: false; reason: 'not_found' | 'version' | 'uniqueness' };

export interface ScimStore {
  getScimResource(client: string, type: ScimResourceType, id: string): Promise<ScimResourceRecord | undefined>;
  /** Resources whose name (case-insensitively) or externalId equals the value; all of the type without one. */
  findScimResources(client: string, type: ScimResourceType, by?: { name?: string; externalId?: string }): Promise<ScimResourceRecord[]>;
  /** Inserts; 'uniqueness' when a User of that userName exists (RFC 7644 §3.3: 409). */
  createScimResource(client: string, type: ScimResourceType, id: string, write: ScimResourceWrite, now: number): Promise<ScimWriteResult>;
  /** Replaces the resource if its version is still `version`. */
  updateScimResource(client: string, type: ScimResourceType, id: string, version: number, write: ScimResourceWrite, now: number): Promise<ScimWriteResult>;
  /** Deletes it if its version is still `version` (any version without one). */
  deleteScimResource(client: string, type: ScimResourceType, id: string, version?: number): Promise<ScimWriteResult>;
}

const COLUMNS = 'client, type, id, name, external_id, resource, version, created_at, updated_at';

function toRecord(r: Row): ScimResourceRecord {
  const externalId = optStr(r.external_id);
  return {
    client: String(r.client),
    type: String(r.type) as ScimResourceType,
    id: String(r.id),
    name: String(r.name),
    ...(externalId === undefined ? {} : { externalId }),
    resource: parsed<Record<string, unknown>>(r.resource),
    version: num(r.version),
    created: num(r.created_at),
    updated: num(r.updated_at),
  };
}

/** PostgreSQL's unique_violation (both engines report it the same way). */
const isUniqueViolation = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === '23505';

export async function getScimResource(q: Queryable, client: string, type: ScimResourceType, id: string): Promise<ScimResourceRecord | undefined> {
  const { rows } = await q.query(`SELECT ${COLUMNS} FROM scim_resources WHERE client = $1 AND type = $2 AND id = $3`, [client, type, id]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function findScimResources(
  q: Queryable,
  client: string,
  type: ScimResourceType,
  by: { name?: string; externalId?: string } = {},
): Promise<ScimResourceRecord[]> {
  const where = ['client = $1', 'type = $2'];
  const params: unknown[] = [client, type];
  if (by.name !== undefined) where.push(`name_lower = $${params.push(by.name.toLowerCase())}`);
  if (by.externalId !== undefined) where.push(`external_id = $${params.push(by.externalId)}`);
  const { rows } = await q.query(`SELECT ${COLUMNS} FROM scim_resources WHERE ${where.join(' AND ')} ORDER BY created_at, id`, params);
  return rows.map(toRecord);
}

export async function createScimResource(
  q: Queryable,
  client: string,
  type: ScimResourceType,
  id: string,
  w: ScimResourceWrite,
  now: number,
): Promise<ScimWriteResult> {
  try {
    const { rows } = await q.query(
      `INSERT INTO scim_resources (${COLUMNS}, name_lower) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8)
       ON CONFLICT (client, type, id) DO NOTHING RETURNING ${COLUMNS}`,
      [client, type, id, w.name, w.externalId ?? null, json(w.resource), now, w.name.toLowerCase()],
    );
    return rows[0] ? { ok: true, record: toRecord(rows[0]) } : { ok: false, reason: 'uniqueness' };
  } catch (e) {
    if (isUniqueViolation(e)) return { ok: false, reason: 'uniqueness' };
    throw e;
  }
}

export async function updateScimResource(
  q: Queryable,
  client: string,
  type: ScimResourceType,
  id: string,
  version: number,
  w: ScimResourceWrite,
  now: number,
): Promise<ScimWriteResult> {
  try {
    const { rows } = await q.query(
      `UPDATE scim_resources SET name = $5, name_lower = $6, external_id = $7, resource = $8, version = version + 1, updated_at = $9
       WHERE client = $1 AND type = $2 AND id = $3 AND version = $4 RETURNING ${COLUMNS}`,
      [client, type, id, version, w.name, w.name.toLowerCase(), w.externalId ?? null, json(w.resource), now],
    );
    if (rows[0]) return { ok: true, record: toRecord(rows[0]) };
  } catch (e) {
    if (isUniqueViolation(e)) return { ok: false, reason: 'uniqueness' };
    throw e;
  }
  return { ok: false, reason: (await getScimResource(q, client, type, id)) ? 'version' : 'not_found' };
}

export async function deleteScimResource(q: Queryable, client: string, type: ScimResourceType, id: string, version?: number): Promise<ScimWriteResult> {
  const { rows } = await q.query(
    `DELETE FROM scim_resources WHERE client = $1 AND type = $2 AND id = $3 AND ($4::integer IS NULL OR version = $4) RETURNING ${COLUMNS}`,
    [client, type, id, version ?? null],
  );
  if (rows[0]) return { ok: true, record: toRecord(rows[0]) };
  return { ok: false, reason: (await getScimResource(q, client, type, id)) ? 'version' : 'not_found' };
}
