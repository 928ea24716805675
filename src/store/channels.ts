/**
 * The NOTIFY channels of one store object: per channel, the listeners of this process and the one
 * LISTEN that feeds them from other instances (PostgreSQL; PGlite has no other process to hear).
 */
import type { Sql } from './sql.js';

export class StoreChannels {
  /** Per NOTIFY channel: the listeners of this store object, and the LISTEN that feeds them. */
  readonly #channels = new Map<string, { listeners: Set<() => void>; stop?: Promise<(() => Promise<void>) | undefined> }>();

  constructor(private readonly sql: Sql) {}

  /** Adds `listener` to `channel`; resolves once it hears other instances, to a function that stops it. */
  async subscribe(channel: string, listener: () => void): Promise<() => Promise<void>> {
    let entry = this.#channels.get(channel);
    if (!entry) this.#channels.set(channel, (entry = { listeners: new Set() }));
    entry.listeners.add(listener);
    // One LISTEN per channel and store, shared by its listeners (on the store's one LISTEN
    // connection, see listener.ts); PGlite has no other process to hear.
    if (this.sql.listen && !entry.stop) {
      const pending = this.sql.listen(channel, () => this.emit(channel));
      entry.stop = pending.catch(() => undefined);
      await pending;
    }
    const e = entry;
    return async () => {
      e.listeners.delete(listener);
      if (e.listeners.size === 0 && e.stop) {
        const stop = await e.stop;
        e.stop = undefined;
        await stop?.();
      }
    };
  }

  /** Tells this process's listeners of `channel` (a change made through this store object). */
  emit(channel: string): void {
    for (const l of this.#channels.get(channel)?.listeners ?? []) l();
  }
}
