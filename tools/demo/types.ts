/** Public types of the demo enterprise (see index.ts for the entry points). */

export type DemoAppName = 'calendar' | 'expenses' | 'crm' | 'chat' | 'payroll';
export const DEMO_APP_NAMES: readonly DemoAppName[] = ['calendar', 'expenses', 'crm', 'chat', 'payroll'];

export interface DemoPorts {
  idp: number;
  calendar: number;
  expenses: number;
  crm: number;
  chat: number;
  payroll: number;
}

export type DemoUrls = { idp: string } & Record<DemoAppName, string>;

export interface DemoControl {
  setUserActive(username: string, active: boolean): void;
  setConnection(requestingClientId: string, app: DemoAppName, enabled: boolean): void;
  /** IdP: refresh tokens and id tokens of that user issued so far are refused in token exchange (invalid_grant). */
  revokeUserSessions(username: string): void;
  /** SaaS: every access token issued so far by that app's AS is refused by its API (401). */
  revokeAccessTokens(app: DemoAppName): void;
  /** The IdP answers 503 to everything while down. */
  setIdpDown(down: boolean): void;
  /**
   * IdP admin: raise a security event about a user on every Shared Signals stream (signed and
   * delivered in the background; `demo.ssf.flush()` waits for it). `setUserActive` raises RISC
   * account-disabled / account-enabled when the state changes, `revokeUserSessions` ("sign out
   * everywhere") CAEP session-revoked.
   */
  emitSecurityEvent(username: string, event: string, opts?: DemoSecurityEventOptions): void;
}

/** Short names the demo transmitter knows ("session-revoked", "account-disabled", ...) or any event type URI. */
export interface DemoSecurityEventOptions {
  /** How the SET names the user (RFC 9493 / SSF 1.0 §3): default iss_sub. */
  subjectFormat?: 'iss_sub' | 'email' | 'complex';
  /** The event's payload (default: a plausible CAEP/RISC one). */
  payload?: Record<string, unknown>;
  /** Claims of the SET replaced or added (tests: a wrong `aud`, an old `iat`). */
  claims?: Record<string, unknown>;
}

export interface DemoSecurityEvent extends DemoSecurityEventOptions {
  username: string;
  event: string;
}

export interface DemoSsfStream {
  streamId: string;
  aud: string;
  /** SSF 1.0 §8.1.1: push (the receiver's endpoint_url) or poll (the transmitter's endpoint_url). */
  delivery: { method: 'urn:ietf:rfc:8935'; endpointUrl: string; authorizationHeader?: string } | { method: 'urn:ietf:rfc:8936'; endpointUrl: string };
  eventsRequested: string[];
}

export interface DemoSsfDelivery {
  streamId: string;
  jti: string;
  event: string;
  username: string;
  /** HTTP status of the receiver's answer; absent when it could not be reached. */
  status?: number;
  /** The receiver's RFC 8935 error body, or the network error. */
  error?: unknown;
}

/** The demo IdP as a Shared Signals transmitter (SSF 1.0, RFC 8935 push, RFC 8936 poll). */
export interface DemoSsf {
  /** The transmitter's issuer (the IdP's). */
  issuer: string;
  /** Bearer token receivers present at the stream configuration and poll endpoints. */
  receiverToken: string;
  createStream(input: {
    aud: string;
    delivery: { method: 'push'; endpointUrl: string; authorizationHeader?: string } | { method: 'poll' };
    eventsRequested?: string[];
  }): DemoSsfStream;
  deleteStream(streamId: string): boolean;
  streams(): DemoSsfStream[];
  /** Raises an event (as control.emitSecurityEvent) and resolves with the jtis once it was delivered or queued. */
  emit(username: string, event: string, opts?: DemoSecurityEventOptions): Promise<string[]>;
  /** Resolves once every event raised so far is signed and pushed (or queued for poll). */
  flush(): Promise<void>;
  /** Push attempts, oldest first. */
  readonly deliveries: readonly DemoSsfDelivery[];
  /** `setErrs` reported by poll receivers (RFC 8936 §2.4). */
  readonly setErrs: ReadonlyArray<{ streamId: string; jti: string; err: string; description: string }>;
  /** jtis waiting to be acknowledged on a poll stream. */
  pending(streamId: string): string[];
}

export interface DemoStats {
  tokenExchanges: number;
  jwtBearerGrants: Record<DemoAppName, number>;
  apiCalls: Record<DemoAppName, number>;
}

export interface DemoEnterprise {
  /** Origins without trailing slash; the IdP issuer is urls.idp, each app's AS issuer is its origin. */
  urls: DemoUrls;
  control: DemoControl;
  stats: DemoStats;
  /** The IdP's Shared Signals transmitter: streams, pushed and queued SETs. */
  ssf: DemoSsf;
  /**
   * Tests (the conformance fixture): the IdP also issues ID-JAGs for a resource server outside the
   * five apps (audience = its AS issuer, resource = one of its resources), under the policy of
   * `policyOf` (user assignment, connection switch).
   */
  trustResourceServer(server: { issuer: string; resources: string[]; scopes: string[]; policyOf: DemoAppName }): void;
  stop(): Promise<void>;
}
