/**
 * One configuration for a fleet. With a shared store (DATABASE_URL), the admin-editable sections
 * of mcp.config.json — tools, resources, upstreams — live in the store with a revision; every
 * instance composes its config from them and its own file (server.*, idp.*, admin, audit dir,
 * secret files: instance-local). An edit through any instance commits a new revision and NOTIFYs
 * in the same transaction; each instance LISTENs (and polls the revision as a fallback) and swaps
 * its ConfigStore, whose onChange tells the gateway (tools/list_changed to connected clients).
 *
 * Without a shared store nothing here runs: the file is the source of truth exactly as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { fleetDocHash } from '../store/fleet-config.js';
import type { FleetConfigDoc, FleetConfigRecord, Store } from '../store/types.js';
import { buildRuntimeConfig, type FleetInForce, type RuntimeConfig } from './load.js';

/** What the fleet sync drives: the ConfigStore (watch.ts), by these members only (watch.ts imports this file). */
export interface FleetConfigTarget {
  readonly current: RuntimeConfig;
  applyFleet(record: FleetConfigRecord): unknown;
  attachFleet(store: FleetBackend, record: FleetConfigRecord, where: string): unknown;
}

/** What the config layer needs of the store. */
export type FleetBackend = Pick<Store, 'engine' | 'getFleetConfig' | 'fleetConfigRevision' | 'onFleetConfigChange' | 'seedFleetConfig' | 'updateFleetConfig'>;

/** The sections that live in the store; everything else stays in each instance's file. */
export const FLEET_SECTIONS = ['tools', 'resources', 'upstreams'] as const;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The ETag of a revision: names both the revision and its content (hex, like the file mode's). */
export const fleetVersion = (record: Pick<FleetConfigRecord, 'revision' | 'hash'>) => sha256(`xaa-gateway fleet config\n${record.revision}\n${record.hash}`);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The editable sections of a raw config (missing ones empty, as the schema's defaults). */
export function fleetDocOf(raw: Record<string, unknown>): FleetConfigDoc {
  return {
    tools: Array.isArray(raw.tools) ? raw.tools : [],
    resources: isObject(raw.resources) ? raw.resources : {},
    upstreams: Array.isArray(raw.upstreams) ? raw.upstreams : [],
  };
}

/** The file's JSON with its editable sections replaced by the store's (key order of the file kept). */
export function withFleetDoc(fileRaw: Record<string, unknown>, doc: FleetConfigDoc): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fileRaw };
  for (const k of FLEET_SECTIONS) {
    const section = doc[k];
    const empty = Array.isArray(section) ? section.length === 0 : Object.keys(section).length === 0;
    // A section the file leaves out stays out while the store's is empty (the schema's default).
    if (empty && !(k in fileRaw)) continue;
    out[k] = structuredClone(section);
  }
  return out;
}

export function parseFileObject(text: string, path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new GatewayError('config_invalid', `${path}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(raw)) throw new GatewayError('config_invalid', `${path}: the config must be a JSON object`);
  return raw;
}

/**
 * This instance's config: its file with the fleet's sections. Validated exactly like a file
 * (schema, cross-references, input schemas, and every secret reference readable here: a stored
 * item's `{"file": ...}` resolves against this instance's config directory, as in file mode).
 */
export function composeFleetConfig(
  fileText: string,
  path: string,
  record: FleetConfigRecord,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): RuntimeConfig {
  const raw = withFleetDoc(parseFileObject(fileText, path), record.doc);
  const version = fleetVersion(record);
  let rt: RuntimeConfig;
  try {
    rt = buildRuntimeConfig(raw, path, sha256(`${sha256(fileText)}\n${version}`), env);
  } catch (e) {
    const err = toGatewayError(e);
    throw new GatewayError(err.code, `the fleet config in the store (revision ${record.revision}) with ${err.message}`, {
      cause: e,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  const fleet: FleetInForce = { revision: record.revision, version, where, updatedAt: record.updatedAt, updatedBy: record.updatedBy };
  return Object.freeze({ ...rt, fleet });
}

export interface FleetSyncOptions {
  config: FleetConfigTarget;
  store: FleetBackend;
  logger: Logger;
  /**
   * How often the revision is polled (ms), the fallback when a notification is lost (the LISTEN
   * connection is being re-opened). Default 500 for PostgreSQL, 0 (off) for the embedded store.
   */
  refreshMs?: number;
}

/**
 * Keeps this instance on the store's newest revision: on NOTIFY (and on the local change of this
 * store object), and by polling one row. A revision that cannot be applied here (a secret file
 * missing on this machine) is refused by ConfigStore with onInvalid; the last good config stays.
 */
export class FleetConfigSync {
  #timer?: NodeJS.Timeout;
  #refreshing?: Promise<void>;
  #again = false;
  #unsubscribe?: Promise<(() => Promise<void>) | undefined>;

  constructor(private readonly opts: FleetSyncOptions) {}

  async start(): Promise<void> {
    this.#unsubscribe ??= this.opts.store
      .onFleetConfigChange(() => this.#announced())
      .catch((e: unknown) => {
        this.opts.logger.warn("cannot LISTEN for config changes; other instances' edits arrive by the poll", { error: toGatewayError(e).message });
        return undefined;
      });
    await this.#unsubscribe;
    await this.refresh();
    const every = this.opts.refreshMs ?? (this.opts.store.engine === 'postgres' ? 500 : 0);
    if (every > 0 && !this.#timer) {
      this.#timer = setInterval(() => void this.refresh().catch((e: unknown) => this.#warn(e)), every);
      this.#timer.unref();
    }
  }

  /** Reads the store's revision and applies a newer one. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const inForce = this.opts.config.current.fleet?.revision ?? 0;
        if ((await this.opts.store.fleetConfigRevision()) <= inForce) return;
        const record = await this.opts.store.getFleetConfig();
        if (record) this.opts.config.applyFleet(record);
      } finally {
        this.#refreshing = undefined;
        if (this.#again) {
          this.#again = false;
          queueMicrotask(() => this.#announced());
        }
      }
    })();
    return this.#refreshing;
  }

  #announced(): void {
    // A refresh already reading may have read before this change committed: read again after it.
    if (this.#refreshing) {
      this.#again = true;
      return;
    }
    void this.refresh().catch((e: unknown) => this.#warn(e));
  }

  #warn(e: unknown): void {
    this.opts.logger.warn('fleet config refresh failed; keeping the config in force', { error: toGatewayError(e).message });
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const u = this.#unsubscribe;
    this.#unsubscribe = undefined;
    void u?.then((stop) => stop?.()).catch(() => undefined);
  }
}

export interface StartFleetConfigOptions extends FleetSyncOptions {
  /** Where the store is, for logs and the admin surfaces ("PostgreSQL at db:5432/xaa"). */
  where: string;
}

/**
 * At `serve` start with a shared store: the store's fleet config wins; when it has none yet, the
 * file's sections seed it (once, under a lock: instances starting together seed one revision 1).
 * Fails the start when the store's config cannot be used on this instance (a secret unreadable
 * here): serving other tools than the rest of the fleet would be worse than not serving.
 */
export async function startFleetConfig(opts: StartFleetConfigOptions): Promise<FleetConfigSync> {
  const path = opts.config.current.path;
  const fileText = readFileSync(path, 'utf8');
  const fileDoc = fleetDocOf(parseFileObject(fileText, path));
  const { record, seeded } = await opts.store.seedFleetConfig(fileDoc, `seeded from ${path}`);
  opts.config.attachFleet(opts.store, record, opts.where);
  const counts = { tools: record.doc.tools.length, resources: Object.keys(record.doc.resources).length, upstreams: record.doc.upstreams.length };
  if (seeded) {
    opts.logger.info(
      'config: tools, resources and upstreams now live in the shared store, seeded from the file; admin edits go to the store and reach every instance',
      { source: 'store', store: opts.where, revision: record.revision, file: path, ...counts },
    );
  } else {
    opts.logger.info(
      "config: tools, resources and upstreams in force come from the shared store; the file gives this instance's own settings (server, idp, admin, audit)",
      {
        source: 'store',
        store: opts.where,
        revision: record.revision,
        updatedBy: record.updatedBy,
        updatedAt: new Date(record.updatedAt).toISOString(),
        ...counts,
      },
    );
    if (fleetDocHash(fileDoc) !== record.hash) {
      opts.logger.warn(
        "the tools, resources or upstreams of the config file differ from the shared store's, which win; `xaa-gateway config export` writes the store's into the file, `config import` the file's into the store",
        { file: path, revision: record.revision },
      );
    }
  }
  const sync = new FleetConfigSync(opts);
  await sync.start();
  return sync;
}

/** For `config check`, the admin CLI and the console: where the config in force comes from. */
export function describeSource(rt: RuntimeConfig): string {
  return rt.fleet
    ? `tools, resources and upstreams from the shared store (${rt.fleet.where}), revision ${rt.fleet.revision}; other settings from ${rt.path}`
    : `${rt.path} (the file is the source of truth)`;
}
