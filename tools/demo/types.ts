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
  stop(): Promise<void>;
}
