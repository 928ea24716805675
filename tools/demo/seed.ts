import type { DemoAppName, DemoDpopPolicy } from './types.js';

/**
 * Who exists in the demo enterprise and what the IdP's administrator allowed. Everything here is
 * demo-only data (passwords included); nothing of it is a real credential.
 */

export interface DemoUser {
  username: string;
  password: string;
  /** Stable opaque subject (the draft's implementation notes: `sub` is opaque, email is a separate claim). */
  sub: string;
  email: string;
  name: string;
  active: boolean;
  apps: readonly DemoAppName[];
  /** IdP groups, sent as the `groups` claim of ID tokens (gateway admins: see admin.group). */
  groups: readonly string[];
  note: string;
}

/** The IdP group whose members may administer the demo gateway (mcp.config.json admin.group). */
export const DEMO_ADMIN_GROUP = 'gateway-admins';

export const SEED_USERS: readonly DemoUser[] = [
  {
    username: 'alice',
    password: 'alice-demo-pass',
    sub: 'u-alice',
    email: 'alice@acme.example',
    name: 'Alice Anders',
    active: true,
    apps: ['calendar', 'expenses', 'crm', 'chat', 'payroll'],
    groups: ['employees', DEMO_ADMIN_GROUP],
    note: 'assigned to all five apps (payroll still denied: its connection is disabled)',
  },
  {
    username: 'bob',
    password: 'bob-demo-pass',
    sub: 'u-bob',
    email: 'bob@acme.example',
    name: 'Bob Brandt',
    active: true,
    apps: ['calendar', 'expenses', 'chat', 'payroll'],
    groups: ['employees'],
    note: 'not assigned to crm',
  },
  {
    username: 'carol',
    password: 'carol-demo-pass',
    sub: 'u-carol',
    email: 'carol@acme.example',
    name: 'Carol Castillo',
    active: false,
    apps: ['calendar', 'expenses', 'crm', 'chat', 'payroll'],
    groups: ['employees'],
    note: 'inactive account: sign-in and token exchange refused',
  },
];

/** The gateway's client id at the IdP and at every app's AS. */
export const GATEWAY_CLIENT_ID = 'xaa-gateway';

/**
 * An enterprise MCP client (a managed Claude, Cursor...) that signs its user in at the IdP and gets
 * ID-JAGs for the gateway's authorization server (draft-parecki-oauth-identity-assertion-gateways);
 * the demo uses the same client id at the IdP and at the gateway.
 */
export const ENTERPRISE_AGENT_CLIENT_ID = 'enterprise-agent';

export interface IdpClient {
  clientId: string;
  /** File name under tools/demo/secrets/. */
  secretFile: string;
  /** Exact redirect URIs; `loopback: true` also accepts http://127.0.0.1:<any port>/callback (RFC 8252 §7.3). */
  redirectUris: readonly string[];
  loopback: boolean;
  /** Paths accepted on any loopback port besides /callback (the remote gateway's /oauth/idp/callback). */
  loopbackPaths?: readonly string[];
}

export const SEED_IDP_CLIENTS: readonly IdpClient[] = [
  { clientId: GATEWAY_CLIENT_ID, secretFile: 'idp-client-secret', redirectUris: [], loopback: true, loopbackPaths: ['/oauth/idp/callback', '/admin/callback'] },
  // A second client, so tests can show that an ID token issued to another client is refused.
  { clientId: 'other-agent', secretFile: 'other-agent-client-secret', redirectUris: ['http://127.0.0.1/callback'], loopback: true },
  { clientId: ENTERPRISE_AGENT_CLIENT_ID, secretFile: 'enterprise-agent-idp-secret', redirectUris: [], loopback: true },
];

/** Managed connections (requesting client -> resource app) the IdP admin enabled. */
export const SEED_CONNECTIONS: ReadonlyArray<{ clientId: string; app: DemoAppName; enabled: boolean }> = [
  { clientId: GATEWAY_CLIENT_ID, app: 'calendar', enabled: true },
  { clientId: GATEWAY_CLIENT_ID, app: 'expenses', enabled: true },
  { clientId: GATEWAY_CLIENT_ID, app: 'crm', enabled: true },
  { clientId: GATEWAY_CLIENT_ID, app: 'chat', enabled: true },
  // Disabled on purpose: the demo shows the IdP refusing an agent it did not connect to payroll.
  { clientId: GATEWAY_CLIENT_ID, app: 'payroll', enabled: false },
  { clientId: 'other-agent', app: 'calendar', enabled: true },
];

/**
 * Managed connections (requesting client -> "gateway": any gateway authorization server the IdP
 * trusts, see DemoEnterprise.trustGateway) the IdP admin enabled. Kept apart from the app connections.
 */
export const SEED_GATEWAY_CONNECTIONS: ReadonlyArray<{ clientId: string; enabled: boolean }> = [{ clientId: ENTERPRISE_AGENT_CLIENT_ID, enabled: true }];

/** How `xaa-gateway` authenticates at an app's AS (a mix on purpose, to exercise every method). */
export type AppClientAuth =
  | { method: 'client_secret_basic' | 'client_secret_post'; secretFile: string }
  | { method: 'private_key_jwt'; publicKeyFile: string; privateKeyFile: string; kid: string };

export interface AppDefinition {
  name: DemoAppName;
  title: string;
  scopes: readonly string[];
  /** Resource paths (RFC 8707 resource = origin + path). */
  resourcePaths: readonly string[];
  clientAuth: AppClientAuth;
  /** RFC 9449 at this app's AS and APIs (see DemoDpopPolicy); absent: "none". */
  dpop?: DemoDpopPolicy['dpop'];
  dpopNonce?: boolean;
}

export const APP_DEFINITIONS: Record<DemoAppName, AppDefinition> = {
  calendar: {
    name: 'calendar',
    title: 'Acme Calendar',
    scopes: ['calendar.read', 'calendar.write'],
    resourcePaths: ['/api'],
    clientAuth: { method: 'client_secret_basic', secretFile: 'calendar-client-secret' },
    dpop: 'optional',
  },
  expenses: {
    name: 'expenses',
    title: 'Acme Expenses',
    scopes: ['expenses.read'],
    resourcePaths: ['/api'],
    clientAuth: { method: 'client_secret_post', secretFile: 'expenses-client-secret' },
    // The benchmark measures expenses: plain Bearer, no proof to sign per call.
    dpop: 'none',
  },
  crm: {
    name: 'crm',
    title: 'Acme CRM',
    scopes: ['crm.read', 'crm.write'],
    resourcePaths: ['/api', '/mcp'],
    clientAuth: {
      method: 'private_key_jwt',
      publicKeyFile: 'crm-client-key.public.jwk.json',
      privateKeyFile: 'crm-client-key.private.jwk.json',
      kid: 'xaa-gateway-crm-1',
    },
    dpop: 'optional',
  },
  chat: {
    name: 'chat',
    title: 'Acme Chat',
    scopes: ['chat.read', 'chat.write'],
    resourcePaths: ['/api'],
    clientAuth: { method: 'client_secret_basic', secretFile: 'chat-client-secret' },
    // The app that insists on sender-constrained tokens, with server nonces at its AS and API (RFC 9449 §8, §9).
    dpop: 'required',
    dpopNonce: true,
  },
  payroll: {
    name: 'payroll',
    title: 'Acme Payroll',
    scopes: ['payroll.read'],
    resourcePaths: ['/api'],
    clientAuth: { method: 'client_secret_basic', secretFile: 'payroll-client-secret' },
    dpop: 'optional',
  },
};
