import type { SubjectTokenSource } from '../broker/index.js';
import { GatewayError } from '../errors.js';
import { TOKEN_TYPE_ID_JAG } from '../xaa/constants.js';

/**
 * The subject token of an enterprise-managed sign-in: the ID-JAG the MCP client redeemed at the
 * gateway's authorization server, presented to the IdP for the chained exchange
 * (draft-parecki-oauth-identity-assertion-gateways §3: subject_token_type id-jag). It cannot be
 * renewed: once it expires the client brings a fresh one, which the gateway never outlives (§4).
 */
export class AssertionSubject implements SubjectTokenSource {
  readonly fixedTokenType = TOKEN_TYPE_ID_JAG;

  constructor(
    private readonly held: { idToken: string; idTokenExpiresAt: number },
    private readonly now: () => number,
  ) {}

  getSubjectToken(): Promise<string> {
    if (!this.held.idToken || this.held.idTokenExpiresAt <= this.now()) {
      return Promise.reject(
        new GatewayError(
          'not_signed_in',
          'the ID-JAG your MCP client signed in with has expired: the client must get a fresh one from the enterprise IdP and sign in again',
        ),
      );
    }
    return Promise.resolve(this.held.idToken);
  }
}
