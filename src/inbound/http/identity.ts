import type { ConfigStore } from '../../config/index.js';
import type { Deps } from '../../deps.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { Store, UserSession } from '../../store/types.js';
import type { Caller, InboundIdentity } from '../identity.js';
import { AssertionSubject } from '../assertion-subject.js';
import { IdpSubject } from '../idp-subject.js';
import type { GatewayAuthExtra } from './types.js';

export const RECONNECT_HINT = 'reconnect the MCP client to sign in again';

/** Upper bound of cached IdpSubjects; the oldest is dropped first (it is only a renewal lock). */
const MAX_CACHED_SUBJECTS = 10_000;

/**
 * Streamable HTTP mode: the user behind a request is the gateway session (`sid`) named by the
 * verified bearer token (SDK AuthInfo.extra, see GatewayAuthExtra). Their IdP tokens live in the
 * store, so every instance behind a load balancer sees the same sign-in.
 */
export class HttpIdentity implements InboundIdentity {
  /** Remote users cannot run the CLI: they sign in again through their MCP client. */
  readonly signInHint = RECONNECT_HINT;
  /** One IdpSubject per gateway session: concurrent calls of one user share one ID-token renewal. */
  readonly #subjects = new Map<string, IdpSubject>();

  constructor(private readonly opts: { store: Store; config: ConfigStore; deps: Deps }) {}

  async resolve({ authInfo }: { authInfo?: unknown }): Promise<Caller> {
    const extra = authExtra(authInfo);
    if (!extra) throw new GatewayError('not_signed_in', `not signed in: ${RECONNECT_HINT}`);
    const session = await this.#session(extra.sid);
    // The token and the session must name the same person; anything else is a forged or stale pairing.
    if (session.sub !== extra.sub || session.iss !== extra.idpIss) {
      throw new GatewayError('not_signed_in', `your gateway session does not match your access token; ${RECONNECT_HINT}`);
    }
    return {
      user: { iss: session.iss, sub: session.sub, ...(session.email ? { email: session.email } : {}), ...(session.name ? { name: session.name } : {}) },
      // Enterprise-managed sign-in: the session holds the ID-JAG it was made from (chained exchange).
      subject: session.subjectTokenType === 'id-jag' ? new AssertionSubject(session, this.opts.deps.now) : this.#subject(extra.sid),
    };
  }

  /** Drops the cached renewal state of a session (signed out). */
  forget(sid: string): void {
    this.#subjects.delete(sid);
  }

  async #session(sid: string): Promise<UserSession> {
    let session: UserSession | undefined;
    try {
      session = await this.opts.store.getUserSession(sid);
    } catch (e) {
      if (isGatewayError(e)) throw e;
      throw new GatewayError('store_unavailable', 'the gateway cannot read your sign-in right now; try again shortly', { cause: e });
    }
    if (!session || session.revokedAt) {
      this.forget(sid);
      throw new GatewayError('not_signed_in', `your gateway session has ended (signed out or revoked); ${RECONNECT_HINT}`);
    }
    return session;
  }

  #subject(sid: string): IdpSubject {
    let subject = this.#subjects.get(sid);
    if (subject) return subject;
    subject = new IdpSubject(
      {
        signInHint: RECONNECT_HINT,
        load: async () => {
          const s = await this.#session(sid);
          return { idToken: s.idToken, idTokenExpiresAt: s.idTokenExpiresAt, ...(s.idpRefreshToken ? { refreshToken: s.idpRefreshToken } : {}) };
        },
        save: async (next) => {
          await this.opts.store.updateUserSessionTokens(sid, {
            idToken: next.idToken,
            idTokenExpiresAt: next.idTokenExpiresAt,
            ...(next.refreshToken ? { idpRefreshToken: next.refreshToken } : {}),
          });
        },
      },
      { config: this.opts.config, deps: this.opts.deps },
    );
    if (this.#subjects.size >= MAX_CACHED_SUBJECTS) {
      const oldest = this.#subjects.keys().next().value;
      if (oldest !== undefined) this.#subjects.delete(oldest);
    }
    this.#subjects.set(sid, subject);
    return subject;
  }
}

/** GatewayAuthExtra from an SDK AuthInfo, or undefined when it is not one the HTTP front door built. */
export function authExtra(authInfo: unknown): GatewayAuthExtra | undefined {
  const extra = (authInfo as { extra?: Partial<GatewayAuthExtra> } | undefined)?.extra;
  if (!extra || typeof extra.sid !== 'string' || typeof extra.sub !== 'string' || typeof extra.idpIss !== 'string' || typeof extra.jti !== 'string')
    return undefined;
  return extra as GatewayAuthExtra;
}
