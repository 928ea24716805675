import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AuditSink } from '../audit/types.js';
import type { RuntimeConfig } from '../config/index.js';
import type { SecurityControl } from '../domain/control.js';
import type { Deps } from '../deps.js';
import type { Logger } from '../log.js';
import { SSF_PUSH_PATH } from './constants.js';
import { Poller, type PollOutcome, type PollTimers } from './poll.js';
import { SetProcessor } from './processor.js';
import type { SecurityEventClaims } from './seen-jtis.js';
import { handlePush } from './push.js';
import { resolveSsfSettings, type SsfSettings } from './settings.js';
import type { LookupUserByEmail } from './subject.js';
import type { TransmitterKeysOptions } from './transmitter.js';

export interface SsfReceiverOptions {
  /** The running config (a ConfigStore): settings follow reloads. */
  config: { readonly current: RuntimeConfig };
  control: SecurityControl;
  audit: Pick<AuditSink, 'append'>;
  deps: Pick<Deps, 'fetch' | 'now'>;
  logger: Logger;
  /** Resolves `email` subjects to gateway users (e.g. from the store's sessions); without it they match nobody. */
  lookupUserByEmail?: LookupUserByEmail;
  /** Where `{"env": ...}` secrets are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The gateway's store: each SET is claimed there by (iss, jti), so a redelivery after a restart or
   * to another instance is not acted on twice. Without it, only this process remembers.
   */
  store?: SecurityEventClaims;
  /** Claim lease and how long to wait for a claim in progress elsewhere (tests shorten them). */
  jtis?: { leaseMs?: number; waitMs?: number };
  /** JWKS and metadata caching of the transmitter (tests shorten them). */
  keys?: Omit<TransmitterKeysOptions, 'issuer' | 'deps'>;
  poll?: { maxEvents?: number; maxBackoffMs?: number; timeoutMs?: number; timers?: PollTimers };
}

export interface SsfReceiver {
  /** POST /ssf/events (RFC 8935 push). Mount at the root of the gateway's app. */
  routes: Hono;
  /** Starts polling when ssf.delivery is "poll"; a no-op otherwise. */
  start(): void;
  /** Stops polling (acknowledging what was processed). */
  stop(): Promise<void>;
  /** One poll now (tests, admin); needs ssf.delivery "poll". */
  pollOnce(): Promise<PollOutcome>;
  /** The resolved `ssf` settings in force, or undefined. */
  settings(): SsfSettings | undefined;
}

/** Pushed SETs are one compact JWT each; nothing legitimate comes near this. */
const MAX_SET_BYTES = 64 * 1024;

/**
 * The Shared Signals receiver of the remote gateway: SETs from the IdP (CAEP, RISC) by push or poll,
 * validated, acted on through `SecurityControl`, audited. Secrets in `ssf` are read at once so a bad
 * reference fails at start; after a config reload the new settings apply to the next SET.
 */
export function createSsfReceiver(opts: SsfReceiverOptions): SsfReceiver {
  const env = opts.env ?? process.env;
  let cache: { runtime: RuntimeConfig; settings: SsfSettings | undefined } | undefined;
  const settings = (): SsfSettings | undefined => {
    const runtime = opts.config.current;
    if (cache?.runtime !== runtime) {
      try {
        cache = { runtime, settings: resolveSsfSettings(runtime, env) };
      } catch (e) {
        // At start this throws; after a reload the previous settings stay in force.
        if (!cache) throw e;
        opts.logger.error('ssf settings of the reloaded config refused; the previous ones stay in force', { error: (e as Error).message });
        cache = { runtime, settings: cache.settings };
      }
    }
    return cache.settings;
  };
  settings();

  const processor = new SetProcessor({
    control: opts.control,
    audit: opts.audit,
    logger: opts.logger,
    deps: opts.deps,
    settings,
    ...(opts.lookupUserByEmail ? { lookupUserByEmail: opts.lookupUserByEmail } : {}),
    ...(opts.keys ? { keys: opts.keys } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.jtis ? { jtis: opts.jtis } : {}),
  });
  const poller = new Poller({ processor, settings, deps: opts.deps, logger: opts.logger, ...opts.poll });

  const routes = new Hono();
  routes.post(
    SSF_PUSH_PATH,
    bodyLimit({
      maxSize: MAX_SET_BYTES,
      onError: () =>
        new Response(JSON.stringify({ err: 'invalid_request', description: `a SET is limited to ${MAX_SET_BYTES} bytes` }), {
          status: 400,
          headers: { 'Content-Type': 'application/json' },
        }),
    }),
    (c) => handlePush(c.req.raw, { processor, settings, logger: opts.logger }),
  );
  routes.all(
    SSF_PUSH_PATH,
    () =>
      new Response(JSON.stringify({ description: 'SETs are pushed with POST (RFC 8935 §2)' }), {
        status: 405,
        headers: { Allow: 'POST', 'Content-Type': 'application/json' },
      }),
  );

  return {
    routes,
    start() {
      const s = settings();
      if (s?.delivery !== 'poll') return;
      opts.logger.info('polling the transmitter for security events', { pollUrl: s.pollUrl, intervalMs: s.pollIntervalMs });
      poller.start();
    },
    stop: () => poller.stop(),
    pollOnce: () => poller.pollOnce(),
    settings,
  };
}
