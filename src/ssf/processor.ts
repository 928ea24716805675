import type { Deps } from '../deps.js';
import { setError } from './errors.js';
import { applyEvent, type ApplyContext, type Delivery } from './effects.js';
import { SeenJtis, type SecurityEventClaims } from './seen-jtis.js';
import type { SsfSettings } from './settings.js';
import { TransmitterKeys, type TransmitterKeysOptions } from './transmitter.js';
import { validateSet } from './validate.js';

export interface SetProcessorOptions extends ApplyContext {
  deps: Pick<Deps, 'fetch' | 'now'>;
  /** The current settings (they follow config reloads); undefined when `ssf` is not configured. */
  settings: () => SsfSettings | undefined;
  keys?: Omit<TransmitterKeysOptions, 'issuer' | 'deps'>;
  /** Where acted-on `jti`s are claimed, so they survive a restart and are shared across instances. */
  store?: SecurityEventClaims;
  /** Claim lease and wait of SeenJtis (tests shorten them). */
  jtis?: { leaseMs?: number; waitMs?: number };
}

export interface ReceiveResult {
  jti: string;
  eventType: string;
  /** 'duplicate': already acted on; acknowledged again, nothing done (RFC 8935 §2.2, RFC 8936 §2.4). */
  status: 'acted' | 'duplicate';
}

/**
 * One SET, whichever way it came: validated (RFC 8417), acted on once per `jti`, audited. Throws a
 * SET error (setErrorCode) to refuse it, or anything else when it should come again later.
 */
export class SetProcessor {
  private keys?: TransmitterKeys;
  private readonly seen: SeenJtis;

  constructor(private readonly opts: SetProcessorOptions) {
    this.seen = new SeenJtis({ now: opts.deps.now, logger: opts.logger, ...(opts.store ? { store: opts.store } : {}), ...opts.jtis });
  }

  async receive(jwt: string, delivery: Delivery, expectedJti?: string): Promise<ReceiveResult> {
    const s = this.opts.settings();
    if (!s) throw setError('access_denied', 'this gateway takes no security events (no "ssf" section in its config)');
    if (this.keys?.issuer !== s.transmitter) this.keys = new TransmitterKeys({ ...this.opts.keys, issuer: s.transmitter, deps: this.opts.deps });
    const set = await validateSet(jwt, {
      issuer: s.transmitter,
      audiences: s.audiences,
      now: this.opts.deps.now(),
      skewSeconds: s.skewSeconds,
      maxAgeSeconds: s.maxAgeSeconds,
      getKey: this.keys.getKey,
    });
    // RFC 8936 §2.2: `sets` is keyed by jti; acknowledging one key for another SET would lose one of them.
    if (expectedJti !== undefined && set.jti !== expectedJti) {
      throw setError('invalid_request', `the SET's "jti" differs from its key "${expectedJti}" in "sets" (RFC 8936 §2.2)`);
    }
    // Remembered until the SET would be refused as too old anyway.
    const forgetAt = (set.iat + s.maxAgeSeconds + s.skewSeconds) * 1000;
    const status = await this.seen.once(set.iss, set.jti, forgetAt, () => applyEvent(set, delivery, this.opts));
    if (status === 'duplicate') this.opts.logger.info('duplicate SET acknowledged; not acted on again', { jti: set.jti, eventType: set.eventType, delivery });
    return { jti: set.jti, eventType: set.eventType, status };
  }
}
