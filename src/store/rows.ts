/**
 * What every repository of the store uses to write parameters and read rows, and the associated
 * data that binds each encrypted column to its row (crypto.ts).
 */

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => Number(v);
export const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
export const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
export const json = (v: unknown): string => JSON.stringify(v);
/** JSONB comes back parsed from both engines; tolerate text for safety. */
export const parsed = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

/** Associated data of each secret column, per row: in one table, so no two columns can share one. */
export const aad = {
  idToken: (id: string) => `user_sessions.id_token:${id}`,
  idpRefreshToken: (id: string) => `user_sessions.idp_refresh_token:${id}`,
  codeVerifier: (id: string) => `authorization_requests.idp_code_verifier:${id}`,
  privateJwk: (kid: string) => `signing_keys.private_jwk:${kid}`,
  keyCheck: 'store_meta.key_check',
};
