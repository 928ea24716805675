import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { isGatewayError } from '../errors.js';
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

  constructor(initial: RuntimeConfig, private readonly env: NodeJS.ProcessEnv = process.env) {
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

  /** Re-reads the file now. Returns true when a new config took effect. */
  reload(): boolean {
    let next: RuntimeConfig;
    try {
      next = loadConfigFile(this.#current.path, this.env);
    } catch (e) {
      const message = isGatewayError(e) ? e.message : String(e);
      for (const l of this.#listeners) l.onInvalid?.(message);
      return false;
    }
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
