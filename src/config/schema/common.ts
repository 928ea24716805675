import { z } from 'zod';

/**
 * The building blocks every section uses: secret references, URLs and issuers, OAuth client
 * authentication, scopes and names.
 */

// ---------------------------------------------------------------------------------------------
// Secrets are never written in the config: only a reference to where they live.

const LITERAL_SECRET_HINT = 'secrets are never written in the config; use {"env": "VAR_NAME"} or {"file": "path/to/secret"}';

export const SecretRef = z
  .union(
    [
      z.strictObject({
        env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
          .describe('Name of the environment variable that holds the secret'),
      }),
      z.strictObject({
        file: z.string().min(1).describe('Path of a file holding the secret (relative to the config file); surrounding whitespace is trimmed'),
      }),
    ],
    { error: (issue) => (typeof issue.input === 'string' ? `literal secret refused: ${LITERAL_SECRET_HINT}` : LITERAL_SECRET_HINT) },
  )
  .describe('A reference to a secret: {"env": "NAME"} or {"file": "path"}');
export type SecretRef = z.infer<typeof SecretRef>;

export const HttpUrl = z
  .string()
  .refine((s) => URL.canParse(s), { message: 'must be an absolute URL', abort: true })
  .refine((s) => /^https?:$/.test(new URL(s).protocol), 'must be an http(s) URL')
  .refine((s) => !new URL(s).hash, 'must not have a #fragment')
  // Credentials in a URL end up in logs and audit records; secrets go by reference (file or env).
  .refine((s) => !new URL(s).username && !new URL(s).password, 'must not carry credentials (user:password@); give secrets by reference instead');

/** An issuer identifier (RFC 8414 §2): https URL without query or fragment. http is allowed for loopback. */
export const Issuer = HttpUrl.refine((s) => !new URL(s).search, 'an issuer must not have a query');

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3, RFC 7523 §2.2 for private_key_jwt)

export const ClientAuth = z
  .discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('client_secret_basic'),
      clientSecret: SecretRef,
    }),
    z.strictObject({
      method: z.literal('client_secret_post'),
      clientSecret: SecretRef,
    }),
    z.strictObject({
      method: z.literal('private_key_jwt'),
      privateKey: SecretRef.describe('Reference to a private JWK (JSON) or PKCS#8 PEM key'),
      alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA']).default('ES256'),
      kid: z.string().optional(),
    }),
  ])
  .describe('How the gateway authenticates as an OAuth client');
export type ClientAuth = z.infer<typeof ClientAuth>;

export const OAuthClient = z.strictObject({
  clientId: z.string().min(1).describe("The gateway's client id at this server"),
  auth: ClientAuth,
});

// ---------------------------------------------------------------------------------------------

export const ScopeList = z
  .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token has no spaces or quotes (RFC 6749 §3.3)'))
  .describe('OAuth scopes');

export const Name = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'use letters, digits, "_", "-" and "." (at most 64 characters)');
