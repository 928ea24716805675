import { GatewayError } from '../errors.js';
import { describeOsError } from './fs.js';

/**
 * The file sink's failure: `audit_unavailable` naming the directory and the OS error code (ENOSPC, EIO...).
 * A GatewayError (a refusal the sink made itself) passes through unchanged.
 */
export function fileLogUnavailable(dir: string, message: string, e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  const osError = (e as NodeJS.ErrnoException)?.code;
  return new GatewayError('audit_unavailable', `${message}: ${describeOsError(e)}`, {
    cause: e,
    details: { dir, ...(osError ? { osError } : {}) },
  });
}

/** A directory with a day file's name holds no records: the scan skips it, and writing there fails naming it. */
export const isDir = (e: unknown) => (e as NodeJS.ErrnoException)?.code === 'EISDIR';
