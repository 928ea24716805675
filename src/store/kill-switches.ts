/**
 * Kill switches (table kill_switches, src/control): every change bumps the revision in store_meta
 * and NOTIFYs in the same transaction (delivered at COMMIT to every LISTENing instance).
 */
import type { SwitchState } from '../domain/control.js';
import { json, num, parsed, type Row } from './rows.js';
import type { Queryable, Sql } from './sql.js';

/** The kill switches in force and the revision they were read at. */
export interface KillSwitchList {
  revision: number;
  switches: SwitchState[];
}

/** Kill switches (src/control); each change bumps the revision. */
export interface KillSwitchStore {
  listKillSwitches(): Promise<KillSwitchList>;
  killSwitchRevision(): Promise<number>;
  /**
   * Calls `listener` after a kill switch changes: at once for changes through this store object,
   * and (PostgreSQL) on NOTIFY for changes made by other instances. Resolves to a function that stops it.
   */
  onKillSwitchChange(listener: () => void): Promise<() => Promise<void>>;
  /** Sets (or replaces) the switch with `state.switch`'s key. Returns the previous state, if any. */
  putKillSwitch(key: string, state: SwitchState): Promise<{ previous?: SwitchState; revision: number }>;
  /**
   * Lifts it. `previous` is undefined when it was not set (the revision is then unchanged). With
   * `onlyIfSince`, only the switch set at that time: one set again meanwhile (another admin, another
   * instance) stays.
   */
  deleteKillSwitch(key: string, onlyIfSince?: number): Promise<{ previous?: SwitchState; revision: number }>;
}

/** NOTIFY channel of kill-switch changes: per schema, like the tables (identifier, ≤ 63 bytes). */
export const switchChannel = (schema: string) => `xaa_kill_switches_${schema}`.slice(0, 63);

export async function listKillSwitches(sql: Sql): Promise<KillSwitchList> {
  // One transaction, so the revision read matches the rows read with it.
  return sql.transaction(async (tx) => {
    const rev = await tx.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
    const { rows } = await tx.query('SELECT * FROM kill_switches ORDER BY since, switch_key');
    return { revision: Number(rev.rows[0]?.value ?? 0), switches: rows.map(toSwitchState) };
  });
}

export async function killSwitchRevision(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
  return Number(rows[0]?.value ?? 0);
}

/** With `notifyChannel`, NOTIFYs it at commit (PostgreSQL; the caller tells its own listeners). */
export async function putKillSwitch(
  sql: Sql,
  notifyChannel: string | undefined,
  key: string,
  state: SwitchState,
): Promise<{ previous?: SwitchState; revision: number }> {
  return sql.transaction(async (tx) => {
    const revision = await bumpRevision(tx, notifyChannel);
    const old = await tx.query('SELECT * FROM kill_switches WHERE switch_key = $1 FOR UPDATE', [key]);
    await tx.query(
      `INSERT INTO kill_switches (switch_key, kind, target, reason, actor, since) VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6)
       ON CONFLICT (switch_key) DO UPDATE SET target = EXCLUDED.target, reason = EXCLUDED.reason, actor = EXCLUDED.actor, since = EXCLUDED.since`,
      [key, state.switch.kind, json(state.switch), state.reason, json(state.actor), state.since],
    );
    return { ...(old.rows[0] ? { previous: toSwitchState(old.rows[0]) } : {}), revision };
  });
}

/** Like putKillSwitch; nothing is bumped or NOTIFYed when there was nothing to lift. */
export async function deleteKillSwitch(
  sql: Sql,
  notifyChannel: string | undefined,
  key: string,
  onlyIfSince?: number,
): Promise<{ previous?: SwitchState; revision: number }> {
  return sql.transaction(async (tx) => {
    const { rows } =
      onlyIfSince === undefined
        ? await tx.query('DELETE FROM kill_switches WHERE switch_key = $1 RETURNING *', [key])
        : await tx.query('DELETE FROM kill_switches WHERE switch_key = $1 AND since = $2 RETURNING *', [key, onlyIfSince]);
    if (!rows[0]) {
      const rev = await tx.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
      return { revision: Number(rev.rows[0]?.value ?? 0) };
    }
    return { previous: toSwitchState(rows[0]), revision: await bumpRevision(tx, notifyChannel) };
  });
}

async function bumpRevision(q: Queryable, notifyChannel?: string): Promise<number> {
  // The row lock of this UPDATE also serializes concurrent switch changes.
  const { rows } = await q.query<{ value: string }>(
    "UPDATE store_meta SET value = (CAST(value AS BIGINT) + 1)::text WHERE key = 'kill_switch_revision' RETURNING value",
  );
  const revision = Number(rows[0]?.value ?? 0);
  // Delivered at COMMIT, to every instance LISTENing: they reload at once instead of at their next poll.
  if (notifyChannel) await q.query('SELECT pg_notify($1, $2)', [notifyChannel, String(revision)]);
  return revision;
}

function toSwitchState(r: Row): SwitchState {
  return { switch: parsed<SwitchState['switch']>(r.target), reason: String(r.reason), actor: parsed<SwitchState['actor']>(r.actor), since: num(r.since) };
}
