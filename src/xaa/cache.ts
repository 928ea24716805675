/**
 * A small TTL cache with single-flight loads: concurrent lookups of one key share one load, and a failed
 * load is not remembered (the next caller tries again). Time comes from the caller (deps.now).
 */
export class TtlCache<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<T>>();

  constructor(readonly ttlMs: number) {}

  async get(key: string, now: () => number, load: () => Promise<T>): Promise<T> {
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > now()) return hit.value;
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const p = (async () => {
      try {
        const value = await load();
        this.#entries.set(key, { value, expiresAt: now() + this.ttlMs });
        return value;
      } finally {
        this.#inflight.delete(key);
      }
    })();
    this.#inflight.set(key, p);
    return p;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
