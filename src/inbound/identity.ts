import type { SubjectTokenSource } from '../broker/index.js';

/** The person a call is made for, as the enterprise IdP knows them. */
export interface UserIdentity {
  iss: string;
  sub: string;
  email?: string;
  name?: string;
}

/** The AI agent making the call: the MCP client (OAuth client id over HTTP, clientInfo over stdio). */
export interface AgentIdentity {
  clientId?: string;
  name?: string;
  version?: string;
}

export interface Caller {
  user: UserIdentity;
  /** The user's IdP credential that the broker presents as subject_token. */
  subject: SubjectTokenSource;
}

/**
 * How a transport finds the user behind a request. stdio has one local, signed-in user; the
 * remote HTTP gateway (next issue) resolves one per bearer token. `resolve` throws
 * GatewayError('not_signed_in') with a message that says how to sign in.
 */
export interface InboundIdentity {
  resolve(request: { authInfo?: unknown }): Promise<Caller>;
  /** How a user of this transport signs in again (shown with sign-in errors), e.g. "run `xaa-gateway login` ...". */
  readonly signInHint?: string;
}
