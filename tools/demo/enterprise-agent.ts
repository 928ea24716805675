import { createHash, randomBytes } from 'node:crypto';
import { TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN } from './idp/id-jag.js';
import { completeDemoLogin } from './login.js';
import { ENTERPRISE_AGENT_CLIENT_ID, SEED_IDP_CLIENTS, SEED_USERS } from './seed.js';
import { readDemoSecret } from './secrets.js';

/**
 * The `enterprise-agent` IdP client, headless: an enterprise MCP client (a managed Claude, Cursor...)
 * that signs its user in at the demo IdP and gets an ID-JAG for a gateway's authorization server
 * (draft-parecki-oauth-identity-assertion-gateways), as tests and scripts need it.
 */

/** Where the demo IdP is: a running DemoEnterprise, or its URL (`npm run demo:agent` against `npm start`). */
export interface DemoIdp {
  urls: { idp: string };
}

/** A loopback redirect URI (RFC 8252 §7.3): nothing listens there, the code is read from the Location. */
const REDIRECT_URI = 'http://127.0.0.1:53690/callback';

interface SignInOptions {
  username: string;
  /** Default: the demo user's seeded password. */
  password?: string;
  fetchImpl?: typeof fetch;
}

function clientAuthorization(): string {
  const secret = readDemoSecret(SEED_IDP_CLIENTS.find((c) => c.clientId === ENTERPRISE_AGENT_CLIENT_ID)!.secretFile);
  return `Basic ${Buffer.from(`${encodeURIComponent(ENTERPRISE_AGENT_CLIENT_ID)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function tokenRequest(demo: DemoIdp, form: Record<string, string>, fetchImpl: typeof fetch): Promise<Record<string, unknown>> {
  const res = await fetchImpl(`${demo.urls.idp}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: clientAuthorization() },
    body: new URLSearchParams(form),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status !== 200) {
    throw new Error(`IdP /token (${form.grant_type}) answered ${res.status} ${String(body.error)}: ${String(body.error_description ?? '')}`);
  }
  return body;
}

/** Authorization code + PKCE (RFC 7636) as `enterprise-agent`: the user's ID token (aud = enterprise-agent). */
export async function enterpriseAgentIdToken(demo: DemoIdp, opts: SignInOptions): Promise<string> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const password = opts.password ?? SEED_USERS.find((u) => u.username === opts.username)?.password;
  if (password === undefined) throw new Error(`no password given and "${opts.username}" is not a demo user`);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('base64url');
  const authorize = new URL(`${demo.urls.idp}/authorize`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: ENTERPRISE_AGENT_CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    state,
    nonce: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(k, v);
  }
  const location = new URL(await completeDemoLogin(authorize.toString(), opts.username, password, fetchImpl));
  const code = location.searchParams.get('code');
  if (!code || location.searchParams.get('state') !== state) {
    throw new Error(`IdP sign-in gave no code: ${location.searchParams.get('error') ?? ''} ${location.searchParams.get('error_description') ?? ''}`.trim());
  }
  const tokens = await tokenRequest(demo, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, fetchImpl);
  if (typeof tokens.id_token !== 'string') throw new Error('IdP token response has no id_token');
  return tokens.id_token;
}

/**
 * Signs the user in as `enterprise-agent` and exchanges the ID token at the IdP (RFC 8693) for an
 * ID-JAG whose audience is `audience` (a gateway's AS issuer, see DemoEnterprise.trustGateway).
 */
export async function enterpriseAgentIdJag(
  demo: DemoIdp,
  opts: SignInOptions & { audience: string; resource?: string; scope?: string },
): Promise<{ idJag: string; idToken: string }> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const idToken = await enterpriseAgentIdToken(demo, opts);
  const res = await tokenRequest(
    demo,
    {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: TOKEN_TYPE_ID_JAG,
      audience: opts.audience,
      ...(opts.resource ? { resource: opts.resource } : {}),
      ...(opts.scope ? { scope: opts.scope } : {}),
      subject_token: idToken,
      subject_token_type: TOKEN_TYPE_ID_TOKEN,
    },
    fetchImpl,
  );
  if (typeof res.access_token !== 'string' || res.issued_token_type !== TOKEN_TYPE_ID_JAG) throw new Error('IdP token exchange gave no ID-JAG');
  return { idJag: res.access_token, idToken };
}
