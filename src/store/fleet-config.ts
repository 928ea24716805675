/**
 * The fleet config row (migration 6): the admin-editable config sections shared by every instance
 * on one store. Every change is a read-check-write under the row lock, bumps the revision and
 * NOTIFYs in the same transaction (delivered at COMMIT to every LISTENing instance), like kill
 * switches do.
 */
import { createHash } from 'node:crypto';
import type { Queryable, Sql } from './sql.js';
import type { FleetConfigDoc, FleetConfigRecord } from './types.js';

type Row = Record<string, unknown>;

/** NOTIFY channel of fleet config changes: per schema, like the tables (identifier, ≤ 63 bytes). */
export const fleetChannel = (schema: string) => `xaa_fleet_config_${schema}`.slice(0, 63);

/** The text stored and hashed: sections in a fixed order, items as written. */
export function fleetDocText(doc: FleetConfigDoc): string {
  return JSON.stringify({ tools: doc.tools, resources: doc.resources, upstreams: doc.upstreams });
}

export const fleetDocHash = (doc: FleetConfigDoc) => createHash('sha256').update(fleetDocText(doc)).digest('hex');

function toRecord(r: Row): FleetConfigRecord {
  const doc = JSON.parse(String(r.doc)) as FleetConfigDoc;
  return { revision: Number(r.revision), doc, hash: String(r.doc_hash), updatedAt: Number(r.updated_at), updatedBy: String(r.updated_by) };
}

export async function getFleetConfig(q: Queryable): Promise<FleetConfigRecord | undefined> {
  const { rows } = await q.query('SELECT * FROM fleet_config WHERE id = 1');
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function fleetConfigRevision(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ revision: string }>('SELECT revision FROM fleet_config WHERE id = 1');
  return Number(rows[0]?.revision ?? 0);
}

/**
 * Seeds once: instances starting together on an empty store serialize on a transaction-scoped
 * advisory lock, and the first one's INSERT is what the others then read.
 */
export async function seedFleetConfig(
  sql: Sql,
  doc: FleetConfigDoc,
  by: string,
  now: number,
  notify: boolean,
): Promise<{ record: FleetConfigRecord; seeded: boolean }> {
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('xaa-gateway:fleet-config:' || current_schema()))");
    const existing = await getFleetConfig(tx);
    if (existing) return { record: existing, seeded: false };
    const record = await write(tx, undefined, doc, by, now, notify ? fleetChannel(sql.schema) : undefined);
    return { record, seeded: true };
  });
}

export async function updateFleetConfig<T>(
  sql: Sql,
  edit: (current: FleetConfigRecord | undefined) => Promise<{ doc: FleetConfigDoc; result: T }>,
  by: string,
  now: () => number,
  notify: boolean,
): Promise<{ record: FleetConfigRecord; result: T; changed: boolean }> {
  return sql.transaction(async (tx) => {
    // The same lock as the seed (there may be no row to lock yet), then the row itself: one change
    // at a time, each checked against the revision it read (READ COMMITTED: a fresh snapshot per statement).
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('xaa-gateway:fleet-config:' || current_schema()))");
    const { rows } = await tx.query('SELECT * FROM fleet_config WHERE id = 1 FOR UPDATE');
    const current = rows[0] ? toRecord(rows[0]) : undefined;
    const { doc, result } = await edit(current);
    if (current && fleetDocHash(doc) === current.hash) return { record: current, result, changed: false };
    const record = await write(tx, current, doc, by, now(), notify ? fleetChannel(sql.schema) : undefined);
    return { record, result, changed: true };
  });
}

async function write(
  tx: Queryable,
  current: FleetConfigRecord | undefined,
  doc: FleetConfigDoc,
  by: string,
  at: number,
  channel: string | undefined,
): Promise<FleetConfigRecord> {
  const text = fleetDocText(doc);
  const hash = createHash('sha256').update(text).digest('hex');
  const revision = (current?.revision ?? 0) + 1;
  await tx.query(
    `INSERT INTO fleet_config (id, revision, doc, doc_hash, updated_at, updated_by) VALUES (1, $1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision, doc = EXCLUDED.doc, doc_hash = EXCLUDED.doc_hash,
       updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
    [revision, text, hash, at, by],
  );
  if (channel) await tx.query('SELECT pg_notify($1, $2)', [channel, String(revision)]);
  return { revision, doc: JSON.parse(text) as FleetConfigDoc, hash, updatedAt: at, updatedBy: by };
}
