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

/**
 * How an app's AS and resource servers treat DPoP (RFC 9449). "none": an AS unaware of it (the DPoP
 * header is ignored, Bearer tokens only, nothing advertised); "optional": a proof at the token
 * endpoint gets a DPoP-bound token, without one a Bearer token; "required": no token without a proof
 * and no unbound token accepted. `dpopNonce`: proofs must carry a server nonce (§8, §9).
 * A token bound by `cnf.jkt` always needs its proof, whatever the policy is now.
 */
export interface DemoDpopPolicy {
  dpop: 'none' | 'optional' | 'required';
  dpopNonce?: boolean;
}

export interface DemoControl {
  setUserActive(username: string, active: boolean): void;
  setConnection(requestingClientId: string, app: DemoAppName, enabled: boolean): void;
  /**
   * IdP admin: the connection requesting client -> "gateway" (every gateway authorization server the
   * IdP trusts, see DemoEnterprise.trustGateway). Seeded: enterprise-agent enabled. It also governs
   * the chained exchange: a gateway may not act for a client whose gateway connection is disabled.
   */
  setGatewayConnection(requestingClientId: string, enabled: boolean): void;
  /** IdP: refresh tokens and id tokens of that user issued so far are refused in token exchange (invalid_grant). */
  revokeUserSessions(username: string): void;
  /** SaaS: every access token issued so far by that app's AS is refused by its API (401). */
  revokeAccessTokens(app: DemoAppName): void;
  /** The IdP answers 503 to everything while down. */
  setIdpDown(down: boolean): void;
  /** SaaS: the app's DPoP policy from now on (its seed policy until then); tokens already issued keep their binding. */
  setDpopPolicy(app: DemoAppName, policy: DemoDpopPolicy): void;
  /**
   * IdP admin: raise a security event about a user on every Shared Signals stream (signed and
   * delivered in the background; `demo.ssf.flush()` waits for it). `setUserActive` raises RISC
   * account-disabled / account-enabled when the state changes, `revokeUserSessions` ("sign out
   * everywhere") CAEP session-revoked.
   */
  emitSecurityEvent(username: string, event: string, opts?: DemoSecurityEventOptions): void;
  /** IdP admin: add the user to a group or remove them (SCIM pushes it to connected apps that receive that group). */
  setGroupMember(username: string, group: string, member: boolean): void;
}

/** A change to a user that provisioning (SCIM) pushes: their status, or one group membership. */
export type DemoUserChange = { username: string; change: 'active' } | { username: string; change: 'group'; group: string; member: boolean };

export interface DemoScimTarget {
  id: string;
  /** The service provider's SCIM base URL (…/scim/v2). */
  baseUrl: string;
  /** Groups pushed with their members (Okta "Push Groups"). */
  groups: string[];
}

export interface DemoScimDelivery {
  targetId: string;
  method: string;
  /** Path under the base URL, e.g. /Users/<id>. */
  path: string;
  username?: string;
  group?: string;
  /** performance.now() when the request was sent and when its answer came. */
  sentAt: number;
  answeredAt: number;
  /** HTTP status; absent when the service provider could not be reached. */
  status?: number;
  error?: string;
}

/** The demo IdP as a SCIM 2.0 client (RFC 7644), sending what Okta sends. */
export interface DemoScim {
  /**
   * IdP admin: provision the demo's users (and `groups` with their members) to a service provider:
   * each user looked up by `userName eq` and created when missing, externalId = the user's `sub`.
   * From then on, deactivations, activations and group changes are pushed as they happen.
   */
  connect(target: { baseUrl: string; token: string; groups?: string[] }): Promise<DemoScimTarget>;
  disconnect(id: string): boolean;
  targets(): DemoScimTarget[];
  /** Resolves once every change raised so far was pushed (or failed). */
  flush(): Promise<void>;
  readonly deliveries: readonly DemoScimDelivery[];
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

/** A gateway's authorization server as the IdP knows it. */
export interface DemoGateway {
  /** The gateway's public URL without trailing slash. */
  issuer: string;
  /** Its MCP endpoint, `<issuer>/mcp` (RFC 8707 resource). */
  resource: string;
  scopes: string[];
  /** The IdP client that operates it and presents its ID-JAGs in the chained exchange (default GATEWAY_CLIENT_ID). */
  operatedBy?: string;
}

export interface DemoStats {
  /** Token exchange requests at the IdP (every kind, refused ones included). */
  tokenExchanges: number;
  /** Chained exchanges (subject_token_type id-jag) that issued an ID-JAG. */
  chainedExchanges: number;
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
  /** The IdP's SCIM client: provisioning to connected apps (the gateway's /scim/v2). */
  scim: DemoScim;
  /**
   * Tests (the conformance fixture): the IdP also issues ID-JAGs for a resource server outside the
   * five apps (audience = its AS issuer, resource = one of its resources), under the policy of
   * `policyOf` (user assignment, connection switch).
   */
  trustResourceServer(server: { issuer: string; resources: string[]; scopes: string[]; policyOf: DemoAppName }): void;
  /**
   * The IdP trusts a gateway's authorization server (draft-parecki-oauth-identity-assertion-gateways):
   * it issues ID-JAGs with `audience` = its issuer to clients whose gateway connection is enabled, and
   * takes those ID-JAGs back from `operatedBy` (default GATEWAY_CLIENT_ID) in the chained exchange.
   * The same issuer again replaces the entry. Also `POST /control/gateways` (IdP admin token).
   */
  trustGateway(gateway: DemoGateway): void;
  stop(): Promise<void>;
}
