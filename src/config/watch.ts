import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { GatewayError, isGatewayError } from '../errors.js';
import type { FleetConfigRecord } from '../store/types.js';
import { composeFleetConfig, type FleetBackend } from './fleet.js';
import { loadConfigFile, type RuntimeConfig } from './load.js';

export interface ConfigWatchEvents {
  /** A valid edit is now in force. */
  onChange?: (next: RuntimeConfig, previous: RuntimeConfig) => void;
  /** An edit was refused; the last good config stays in force. */
  onInvalid?: (message: string) => void;
}

/**
 * Holds the config in force and swaps it atomically when the file changes. Watches the directory,
 * not the file: editors save by writing a temp file and renaming it over the original, which
 * would orphan a watch on the file's inode.
 */
export class ConfigStore {
  #current: RuntimeConfig;
  #watcher?: FSWatcher;
  #timer?: NodeJS.Timeout;
  readonly #listeners = new Set<ConfigWatchEvents>();
  /** Fleet mode (src/config/fleet.ts): the store's revision in force and where the store is. */
  #fleet?: { backend: FleetBackend; record: FleetConfigRecord; where: string };

  constructor(
    initial: RuntimeConfig,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#current = initial;
  }

  get current(): RuntimeConfig {
    return this.#current;
  }

  subscribe(events: ConfigWatchEvents): () => void {
    this.#listeners.add(events);
    return () => this.#listeners.delete(events);
  }

  watch(debounceMs = 150): void {
    if (this.#watcher) return;
    const name = basename(this.#current.path);
    this.#watcher = watch(this.#current.dir, (_event, filename) => {
      if (filename !== null && filename !== name) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(), debounceMs);
    });
    this.#watcher.unref();
  }

  /** 'store' once attachFleet made the shared store the source of tools, resources and upstreams. */
  get source(): 'file' | 'store' {
    return this.#fleet ? 'store' : 'file';
  }

  /** The shared store behind tools, resources and upstreams (fleet mode), for the admin editor. */
  get fleet(): { backend: FleetBackend; where: string } | undefined {
    return this.#fleet && { backend: this.#fleet.backend, where: this.#fleet.where };
  }

  /**
   * Switches to fleet mode: from now on tools, resources and upstreams are the store's (`record`)
   * and the file gives the rest. Throws (config_invalid / config_secret) when that config is not
   * valid on this instance; nothing changes then.
   */
  attachFleet(backend: FleetBackend, record: FleetConfigRecord, where: string): RuntimeConfig {
    const next = composeFleetConfig(this.#readFile(), this.#current.path, record, where, this.env);
    this.#fleet = { backend, record, where };
    this.#swap(next);
    return next;
  }

  /**
   * Puts a newer revision from the store in force (older or equal ones are ignored: notifications
   * and polls may repeat). Returns true when it took effect; an invalid one is reported to onInvalid
   * and the last good config stays.
   */
  applyFleet(record: FleetConfigRecord): boolean {
    const fleet = this.#fleet;
    if (!fleet || record.revision <= fleet.record.revision) return false;
    let next: RuntimeConfig;
    try {
      next = composeFleetConfig(this.#readFile(), this.#current.path, record, fleet.where, this.env);
    } catch (e) {
      this.#invalid(e);
      return false;
    }
    this.#fleet = { ...fleet, record };
    return this.#swap(next);
  }

  /** Re-reads the file now. Returns true when a new config took effect. */
  reload(): boolean {
    let next: RuntimeConfig;
    try {
      const fleet = this.#fleet;
      next = fleet
        ? composeFleetConfig(this.#readFile(), this.#current.path, fleet.record, fleet.where, this.env)
        : loadConfigFile(this.#current.path, this.env);
    } catch (e) {
      this.#invalid(e);
      return false;
    }
    return this.#swap(next);
  }

  #readFile(): string {
    try {
      return readFileSync(this.#current.path, 'utf8');
    } catch (e) {
      throw new GatewayError('config_invalid', `cannot read config file ${this.#current.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
      });
    }
  }

  #invalid(e: unknown): void {
    const message = isGatewayError(e) ? e.message : String(e);
    for (const l of this.#listeners) l.onInvalid?.(message);
  }

  #swap(next: RuntimeConfig): boolean {
    if (next.hash === this.#current.hash) return false;
    const previous = this.#current;
    this.#current = next;
    for (const l of this.#listeners) l.onChange?.(next, previous);
    return true;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
