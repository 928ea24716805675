import { SignJWT } from 'jose';
import { randomToken, type IdpContext } from './context.js';
import type { DemoSecurityEvent, DemoSecurityEventOptions, DemoSsf, DemoSsfDelivery, DemoSsfStream } from '../types.js';
import { readDemoSecret } from '../secrets.js';

/**
 * The demo IdP as an OpenID Shared Signals transmitter: streams (SSF 1.0 §8.1.1) each with its own
 * audience and delivery, SETs (RFC 8417) signed with the IdP's key, pushed (RFC 8935) or queued for
 * poll (RFC 8936) until the receiver acknowledges them. Streams live in memory: a demo restarts clean.
 */

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';

/** Short names the demo's controls take, and what it supports on a stream. */
export const DEMO_EVENT_TYPES: Readonly<Record<string, string>> = {
  'session-revoked': `${CAEP}session-revoked`,
  'credential-change': `${CAEP}credential-change`,
  'token-claims-change': `${CAEP}token-claims-change`,
  'assurance-level-change': `${CAEP}assurance-level-change`,
  'device-compliance-change': `${CAEP}device-compliance-change`,
  'account-disabled': `${RISC}account-disabled`,
  'account-enabled': `${RISC}account-enabled`,
  'account-purged': `${RISC}account-purged`,
  'credential-compromise': `${RISC}credential-compromise`,
};

export function eventTypeUri(event: string): string {
  const uri = DEMO_EVENT_TYPES[event] ?? event;
  if (!/^https?:\/\/|^urn:/.test(uri)) throw new Error(`unknown event "${event}": use one of ${Object.keys(DEMO_EVENT_TYPES).join(', ')} or an event type URI`);
  return uri;
}

interface Stream extends DemoSsfStream {
  /** Created without events_requested: every event is delivered, custom event types too. */
  everything: boolean;
  /** Poll: SETs not yet acknowledged, by jti, oldest first. */
  queue: Map<string, string>;
  waiters: Set<() => void>;
}

export class DemoTransmitter implements DemoSsf {
  readonly issuer: string;
  readonly receiverToken = readDemoSecret('ssf-receiver-token');
  readonly deliveries: DemoSsfDelivery[] = [];
  readonly setErrs: Array<{ streamId: string; jti: string; err: string; description: string }> = [];
  private readonly all = new Map<string, Stream>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly ctx: IdpContext) {
    this.issuer = ctx.issuer;
    ctx.state.securityEventListeners.add((e) => {
      eventTypeUri(e.event); // an unknown event name fails the control call itself
      void this.track(this.send(e));
    });
  }

  createStream(input: Parameters<DemoSsf['createStream']>[0]): DemoSsfStream {
    const streamId = randomToken(12);
    const delivery: DemoSsfStream['delivery'] =
      input.delivery.method === 'push'
        ? {
            method: PUSH_METHOD,
            endpointUrl: input.delivery.endpointUrl,
            ...(input.delivery.authorizationHeader ? { authorizationHeader: input.delivery.authorizationHeader } : {}),
          }
        : { method: POLL_METHOD, endpointUrl: `${this.issuer}/ssf/poll/${streamId}` };
    const stream: Stream = {
      streamId,
      aud: input.aud,
      delivery,
      eventsRequested: (input.eventsRequested ?? Object.keys(DEMO_EVENT_TYPES)).map(eventTypeUri),
      everything: input.eventsRequested === undefined,
      queue: new Map(),
      waiters: new Set(),
    };
    this.all.set(streamId, stream);
    return publicView(stream);
  }

  deleteStream(streamId: string): boolean {
    const s = this.all.get(streamId);
    s?.waiters.forEach((w) => w());
    return this.all.delete(streamId);
  }

  streams(): DemoSsfStream[] {
    return [...this.all.values()].map(publicView);
  }

  stream(streamId: string): DemoSsfStream | undefined {
    const s = this.all.get(streamId);
    return s && publicView(s);
  }

  async emit(username: string, event: string, opts: DemoSecurityEventOptions = {}): Promise<string[]> {
    eventTypeUri(event);
    if (!this.ctx.state.users.has(username)) throw new Error(`unknown demo user "${username}"`);
    return this.track(this.send({ ...opts, username, event }));
  }

  async flush(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  pending(streamId: string): string[] {
    return [...(this.all.get(streamId)?.queue.keys() ?? [])];
  }

  /**
   * RFC 8936 §2.4: acknowledge (`ack`), take errors (`setErrs`), then return up to `maxEvents` unacknowledged
   * SETs; with `returnImmediately: false` and nothing queued, wait (long poll) up to `waitMs`.
   */
  async poll(
    streamId: string,
    req: { ack: string[]; setErrs: Record<string, { err: string; description: string }>; maxEvents?: number; returnImmediately: boolean },
    waitMs = 10_000,
  ): Promise<{ sets: Record<string, string>; moreAvailable: boolean } | undefined> {
    const s = this.all.get(streamId);
    if (!s || s.delivery.method !== POLL_METHOD) return undefined;
    for (const jti of req.ack) s.queue.delete(jti);
    for (const [jti, e] of Object.entries(req.setErrs)) {
      this.setErrs.push({ streamId, jti, err: e.err, description: e.description });
      s.queue.delete(jti);
    }
    const max = req.maxEvents ?? 100;
    if (max > 0 && s.queue.size === 0 && !req.returnImmediately) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          s.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        timer.unref?.();
        s.waiters.add(done);
      });
    }
    const sets = Object.fromEntries([...s.queue.entries()].slice(0, max));
    return { sets, moreAvailable: s.queue.size > Object.keys(sets).length };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  /** One SET per stream that asked for this event type (SSF 1.0 §8.1.1: events_delivered). */
  private async send(e: DemoSecurityEvent): Promise<string[]> {
    const type = eventTypeUri(e.event);
    const jtis: string[] = [];
    await Promise.all(
      [...this.all.values()]
        .filter((s) => s.everything || s.eventsRequested.includes(type))
        .map(async (s) => {
          const jti = randomToken(12);
          jtis.push(jti);
          const set = await this.sign(s, jti, type, e);
          if (s.delivery.method === POLL_METHOD) {
            s.queue.set(jti, set);
            s.waiters.forEach((w) => w());
          } else {
            this.deliveries.push(await push(s.delivery, set, { streamId: s.streamId, jti, event: type, username: e.username }));
          }
        }),
    );
    return jtis;
  }

  private async sign(s: Stream, jti: string, type: string, e: DemoSecurityEvent): Promise<string> {
    const user = this.ctx.state.users.get(e.username)!;
    const now = Math.floor(Date.now() / 1000);
    const issSub = { format: 'iss_sub', iss: this.issuer, sub: user.sub };
    const subId =
      e.subjectFormat === 'email' ? { format: 'email', email: user.email } : e.subjectFormat === 'complex' ? { format: 'complex', user: issSub } : issSub;
    // RFC 8417 §2.2 + SSF 1.0 §4.1: iss, aud, iat, jti, sub_id and exactly one event.
    const claims = { iss: this.issuer, aud: s.aud, iat: now, jti, sub_id: subId, events: { [type]: e.payload ?? defaultPayload(type, now) }, ...e.claims };
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: this.ctx.kid, typ: 'secevent+jwt' }).sign(this.ctx.signingKey);
  }
}

function defaultPayload(type: string, now: number): Record<string, unknown> {
  // CAEP 1.0 §2 common claims; RISC events carry no required members.
  if (type.startsWith(CAEP)) return { event_timestamp: now, initiating_entity: 'admin', reason_admin: { en: 'Action taken by the Acme IdP administrator' } };
  return {};
}

/** RFC 8935 §2: POST the SET; 202 is success, 400 carries {err, description}. Retried on 5xx and network errors. */
async function push(
  d: { endpointUrl: string; authorizationHeader?: string },
  set: string,
  info: Omit<DemoSsfDelivery, 'status' | 'error'>,
): Promise<DemoSsfDelivery> {
  let last: DemoSsfDelivery = { ...info };
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const res = await fetch(d.endpointUrl, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/secevent+jwt',
          Accept: 'application/json',
          ...(d.authorizationHeader ? { Authorization: d.authorizationHeader } : {}),
        },
        body: set,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      last = { ...info, status: res.status, ...(res.status === 202 ? {} : { error: parseJson(text) }) };
      if (res.status < 500) return last;
    } catch (e) {
      last = { ...info, error: (e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message };
    }
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
  return last;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function publicView(s: Stream): DemoSsfStream {
  return { streamId: s.streamId, aud: s.aud, delivery: { ...s.delivery }, eventsRequested: [...s.eventsRequested] };
}
