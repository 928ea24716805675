import { createHmac } from 'node:crypto';
import { safeEqual } from '../security.js';

/**
 * Server-issued DPoP nonces (RFC 9449 §8, §9) without state: a nonce is a time step and an HMAC of
 * it, valid in its step and the next. Instances sharing the secret accept one another's nonces, so a
 * client behind a balancer is not sent round in circles.
 */
export class DpopNonces {
  constructor(
    private readonly secret: Buffer,
    private readonly stepMs = 300_000,
  ) {}

  issue(now: number): string {
    const step = Math.floor(now / this.stepMs);
    return `${step.toString(36)}.${this.#mac(step)}`;
  }

  valid(nonce: string | undefined, now: number): boolean {
    if (!nonce) return false;
    const m = /^([0-9a-z]{1,12})\.([\w-]{43})$/.exec(nonce);
    if (!m) return false;
    const step = parseInt(m[1]!, 36);
    const current = Math.floor(now / this.stepMs);
    if (step !== current && step !== current - 1) return false;
    return safeEqual(m[2]!, this.#mac(step));
  }

  #mac(step: number): string {
    return createHmac('sha256', this.secret).update(`dpop-nonce:${step}`).digest('base64url');
  }
}
