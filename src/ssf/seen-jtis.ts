import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';

/** What SeenJtis needs of the gateway's store. */
export type SecurityEventClaims = Pick<Store, 'claimSecurityEvent' | 'completeSecurityEvent' | 'releaseSecurityEvent'>;

export interface SeenJtisOptions {
  /** Epoch ms. */
  now: () => number;
  /**
   * The gateway's store: the `jti`s acted on survive a restart and are shared by every instance on
   * the same PostgreSQL. Without it they are remembered by this process only (tests, tools).
   */
  store?: SecurityEventClaims;
  /**
   * A claim neither completed nor released this long after it was made is taken as abandoned (its
   * process died while acting) and a redelivery takes it over. Longer than acting on a SET ever
   * takes. Default 2 minutes.
   */
  leaseMs?: number;
  /** How long a delivery waits for a claim in progress elsewhere before answering "later". Default 5 s. */
  waitMs?: number;
  logger?: Logger;
  /** Bound on memory; the oldest entries go first. */
  maxEntries?: number;
}

/**
 * The `jti`s already acted on, so a SET delivered twice (a push retried after a lost 202, a poll
 * whose acknowledgement was lost: RFC 8935 §2.2, RFC 8936 §2.4) is acknowledged but acted on once.
 *
 * Two layers. In memory, the fast path: a duplicate within this process is answered without I/O,
 * and concurrent duplicates wait for the first. With a store, each SET is also claimed there by
 * (iss, jti) before it is acted on: a redelivery after a restart, or to another instance, finds
 * it acted on (a duplicate) or in progress (waits, then 503: the transmitter delivers it again).
 * A failed act releases the claim, so a redelivery retries; a claim whose process died is taken
 * over after `leaseMs`. Entries and rows live until the SET would be refused as too old anyway
 * (iat + maxAgeSeconds + skew). Without a store, a redelivery after a restart is acted on again.
 */
export class SeenJtis {
  private readonly entries = new Map<string, { expiresAt: number; done: Promise<'acted' | 'duplicate'> }>();
  private lastSweep = 0;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly maxEntries: number;

  constructor(private readonly opts: SeenJtisOptions) {
    this.leaseMs = opts.leaseMs ?? 120_000;
    this.waitMs = opts.waitMs ?? 5_000;
    this.maxEntries = opts.maxEntries ?? 100_000;
  }

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
    const entry = { expiresAt, done: this.run(iss, jti, expiresAt, act) };
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    try {
      return await entry.done;
    } catch (e) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw e;
    }
  }

  private async run(iss: string, jti: string, expiresAt: number, act: () => Promise<void>): Promise<'acted' | 'duplicate'> {
    const store = this.opts.store;
    if (!store) {
      await act();
      return 'acted';
    }
    const claimedAt = await this.claim(store, iss, jti, expiresAt);
    if (claimedAt === undefined) return 'duplicate';
    try {
      await act();
    } catch (e) {
      await store.releaseSecurityEvent(iss, jti, claimedAt).catch((err: unknown) =>
        this.opts.logger?.warn('SET claim not released; a redelivery takes it over once its lease ends', {
          jti,
          leaseMs: this.leaseMs,
          error: (err as Error).message,
        }),
      );
      throw e;
    }
    await store.completeSecurityEvent(iss, jti, this.opts.now()).catch((err: unknown) =>
      // Acted on all the same: answering "later" would only make the transmitter send it again.
      this.opts.logger?.warn('SET acted on but not marked so in the store; a redelivery after the lease would act again (idempotent)', {
        jti,
        error: (err as Error).message,
      }),
    );
    return 'acted';
  }

  /** The claim time (the token releasing it), or undefined when the SET was acted on already. */
  private async claim(store: SecurityEventClaims, iss: string, jti: string, expiresAt: number): Promise<number | undefined> {
    let waited = 0;
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      const now = this.opts.now();
      const claim = await store.claimSecurityEvent(iss, jti, expiresAt, now, this.leaseMs);
      if (claim === 'claimed') return now;
      if (claim === 'acted') return undefined;
      // Counted in time slept, not by the clock of `now`: tests may freeze that.
      if (waited >= this.waitMs) {
        throw new GatewayError(
          'security_event_busy',
          'this SET is being acted on elsewhere (another gateway instance, or before a restart); deliver it again later',
        );
      }
      await sleep(pause);
      waited += pause;
    }
  }

  private sweep(): void {
    const now = this.opts.now();
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const [key, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(key);
  }
}
