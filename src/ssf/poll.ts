import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeNetworkError } from '../xaa/http.js';
import type { SetErrorCode } from './constants.js';
import { setErrorBody, setErrorCode } from './errors.js';
import type { SetProcessor } from './processor.js';
import type { SsfSettings } from './settings.js';

/**
 * RFC 8936 poll delivery: the gateway POSTs to the stream's poll endpoint, acknowledging (`ack`) the
 * SETs it acted on and reporting (`setErrs`) those it refused since the last poll, and gets the next
 * `sets`. A SET that could not be processed for a transient reason is neither: the transmitter
 * delivers it again. Runs on an interval, at once again while the transmitter has more or acks are
 * pending, and backs off on failures.
 */

export interface PollRequestBody {
  ack: string[];
  setErrs: Record<string, { err: SetErrorCode; description: string }>;
  maxEvents: number;
  returnImmediately: boolean;
}

/** RFC 8936 §2.3: a JSON POST; the token, when configured, as an RFC 6750 bearer. */
export function buildPollRequest(url: string, token: string | undefined, body: PollRequestBody): Request {
  return new Request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    redirect: 'manual',
  });
}

const PollResponse = z.object({
  sets: z.record(z.string(), z.string()).default({}),
  moreAvailable: z.boolean().default(false),
});
export type PollResponse = z.infer<typeof PollResponse>;

/** RFC 8936 §2.5: 200 with `sets` (jti -> SET) and `moreAvailable`. */
export async function processPollResponse(res: Response): Promise<PollResponse> {
  if (res.status !== 200) {
    const text = await res.text().catch(() => '');
    const detail = /^\s*\{/.test(text) ? `: ${text.slice(0, 200)}` : '';
    throw new GatewayError('idp_unreachable', `SET poll endpoint answered HTTP ${res.status}${detail}`, { status: res.status });
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch (e) {
    throw new GatewayError('idp_unreachable', 'SET poll response is not JSON', { cause: e });
  }
  const parsed = PollResponse.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError('idp_unreachable', `SET poll response: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export interface PollOutcome {
  received: number;
  acted: number;
  duplicates: number;
  refused: number;
  /** Not processed now (transient failure): neither acknowledged nor refused. */
  deferred: number;
  moreAvailable: boolean;
}

/** When to poll next: at once while there is more or acks are pending; the interval otherwise; doubling per failure. */
export function nextPollDelay(o: { intervalMs: number; failures: number; maxBackoffMs: number; moreAvailable: boolean; pending: boolean }): number {
  if (o.failures > 0) return Math.min(o.intervalMs * 2 ** Math.min(o.failures, 20), Math.max(o.maxBackoffMs, o.intervalMs));
  if (o.moreAvailable || o.pending) return 0;
  return o.intervalMs;
}

export interface PollerOptions {
  processor: SetProcessor;
  settings: () => SsfSettings | undefined;
  deps: Pick<Deps, 'fetch' | 'now'>;
  logger: Logger;
  /** `maxEvents` per poll. Default 25. */
  maxEvents?: number;
  /** Ceiling of the backoff. Default 5 minutes. */
  maxBackoffMs?: number;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
  /** How the next poll is scheduled (tests drive it by hand). Default setTimeout, unref'd. */
  timers?: PollTimers;
}

export interface PollTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: PollTimers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Poller {
  private readonly ack = new Set<string>();
  private readonly errs = new Map<string, { err: SetErrorCode; description: string }>();
  private failures = 0;
  private stopped = true;
  /** Set by stop(): SETs not yet processed in the poll in flight are left for redelivery. */
  private stopping = false;
  private timer?: unknown;
  private cycleDone?: Promise<void>;
  private abort?: AbortController;

  constructor(private readonly opts: PollerOptions) {}

  get running(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopping = false;
    this.schedule(0);
  }

  /** Stops the loop, aborts a poll in flight, and sends what is still to acknowledge (ack-only, RFC 8936 §2.4). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping = true;
    this.timers.clear(this.timer);
    this.abort?.abort();
    await this.cycleDone;
    const s = this.opts.settings();
    if ((this.ack.size || this.errs.size) && s?.delivery === 'poll' && s.pollUrl) {
      await this.send(s, 0, 5_000).catch((e: unknown) =>
        this.opts.logger.warn('SET acknowledgements not sent at stop; the transmitter will deliver those SETs again', { error: describeNetworkError(e) }),
      );
    }
  }

  /** One poll: sends pending acks and errors, processes what comes back (oldest `iat` first). */
  async pollOnce(): Promise<PollOutcome> {
    const s = this.opts.settings();
    if (!s || s.delivery !== 'poll' || !s.pollUrl) throw new GatewayError('config_invalid', 'ssf.delivery is not "poll" (or ssf.pollUrl is missing)');
    const { sets, moreAvailable } = await this.send(s, this.opts.maxEvents ?? 25, this.opts.timeoutMs ?? 30_000);
    const outcome: PollOutcome = { received: 0, acted: 0, duplicates: 0, refused: 0, deferred: 0, moreAvailable };
    const ordered = Object.entries(sets).sort(([, a], [, b]) => issuedAt(a) - issuedAt(b));
    for (const [jti, set] of ordered) {
      outcome.received++;
      if (this.stopping) {
        outcome.deferred++;
        continue;
      }
      try {
        const r = await this.opts.processor.receive(set.trim(), 'poll', jti);
        this.ack.add(jti);
        if (r.status === 'duplicate') outcome.duplicates++;
        else outcome.acted++;
      } catch (e) {
        if (setErrorCode(e)) {
          const body = setErrorBody(toGatewayError(e));
          this.errs.set(jti, body);
          outcome.refused++;
          this.opts.logger.warn('polled SET refused; reported in setErrs', { jti, err: body.err, description: body.description });
        } else {
          outcome.deferred++;
          const err = toGatewayError(e);
          this.opts.logger.error('polled SET not taken now; it will be delivered again', { jti, code: err.code, error: err.message });
        }
      }
    }
    return outcome;
  }

  private async send(s: SsfSettings, maxEvents: number, timeoutMs: number): Promise<PollResponse> {
    const ack = [...this.ack];
    const setErrs = Object.fromEntries(this.errs);
    const abort = (this.abort = new AbortController());
    let res: Response;
    try {
      res = await this.opts.deps.fetch(buildPollRequest(s.pollUrl!, s.pollToken, { ack, setErrs, maxEvents, returnImmediately: true }), {
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (e) {
      throw new GatewayError('idp_unreachable', `SET poll endpoint unreachable: ${describeNetworkError(e)}`, { cause: e });
    }
    const body = await processPollResponse(res);
    // The transmitter has them now: acknowledged SETs are not delivered again (RFC 8936 §2.4).
    for (const j of ack) this.ack.delete(j);
    for (const j of Object.keys(setErrs)) this.errs.delete(j);
    return body;
  }

  private schedule(ms: number): void {
    this.timer = this.timers.set(() => {
      this.cycleDone = this.cycle().finally(() => (this.cycleDone = undefined));
    }, ms);
  }

  private get timers(): PollTimers {
    return this.opts.timers ?? realTimers;
  }

  private async cycle(): Promise<void> {
    const s = this.opts.settings();
    const intervalMs = s?.pollIntervalMs ?? 30_000;
    let delay = intervalMs;
    if (s?.delivery === 'poll' && s.pollUrl) {
      try {
        const out = await this.pollOnce();
        this.failures = out.deferred > 0 ? this.failures + 1 : 0;
        delay = nextPollDelay({
          intervalMs,
          failures: this.failures,
          maxBackoffMs: this.maxBackoff,
          moreAvailable: out.moreAvailable,
          pending: this.ack.size + this.errs.size > 0,
        });
      } catch (e) {
        if (this.stopped) return;
        this.failures++;
        delay = nextPollDelay({ intervalMs, failures: this.failures, maxBackoffMs: this.maxBackoff, moreAvailable: false, pending: false });
        this.opts.logger.warn('SET poll failed; backing off', { error: toGatewayError(e).message, failures: this.failures, retryInMs: delay });
      }
    }
    if (!this.stopped) this.schedule(delay);
  }

  private get maxBackoff(): number {
    return this.opts.maxBackoffMs ?? 300_000;
  }
}

function issuedAt(set: string): number {
  try {
    const iat = decodeJwt(set).iat;
    return typeof iat === 'number' ? iat : Number.MAX_SAFE_INTEGER;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}
