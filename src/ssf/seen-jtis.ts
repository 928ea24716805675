/**
 * The `jti`s already acted on, so a SET delivered twice (a push retried after a lost 202, a poll
 * whose acknowledgement was lost: RFC 8935 §2.2, RFC 8936 §2.4) is acknowledged but acted on once.
 *
 * Kept in memory: an entry lives until its SET would be refused as too old anyway (iat +
 * maxAgeSeconds + skew), so within one process a replay is never acted on twice. After a restart a
 * redelivered SET is acted on again; the effects (revoke, disable, enable) are idempotent, but an
 * old `account-enabled` replayed after a restart would lift a newer disable: see the README.
 */
export class SeenJtis {
  private readonly entries = new Map<string, { expiresAt: number; done: Promise<void> }>();
  private lastSweep = 0;

  constructor(
    private readonly now: () => number,
    /** Bound on memory; the oldest entries go first. */
    private readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `act` unless this (iss, jti) was acted on already or is being acted on right now (then
   * waits for that and reports a duplicate). A failed `act` forgets the jti, so a redelivery retries.
   */
  async once(iss: string, jti: string, expiresAt: number, act: () => Promise<void>): Promise<'acted' | 'duplicate'> {
    const key = `${iss}\u0000${jti}`;
    this.sweep();
    for (;;) {
      const prev = this.entries.get(key);
      if (!prev) break;
      try {
        await prev.done;
        return 'duplicate';
      } catch {
        // The first attempt failed and forgot the jti: try again ourselves (unless another caller already did).
      }
    }
    const done = act();
    const entry = { expiresAt, done };
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    try {
      await done;
    } catch (e) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw e;
    }
    return 'acted';
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const [key, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(key);
  }
}
