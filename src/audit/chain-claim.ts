import { GatewayError } from '../errors.js';
import { INSTANCE_RE } from '../config/schema.js';
import { fileLogUnavailable } from './file-errors.js';
import { UNNAMED_CHAIN } from './fs.js';
import { type AuditLockOptions, DirLock } from './lock.js';

/**
 * The chain a file log writes when it names one: `instance` (checked: it names files), or the unnamed chain.
 * With `claim` the chain is claimed at open instead (only its prefix is checked here).
 */
export function namedChain(instance: string | undefined, claim: { prefix: string } | undefined): string {
  const named = claim ? undefined : instance;
  if (named !== undefined && !INSTANCE_RE.test(named)) {
    throw new GatewayError(
      'config_invalid',
      `audit instance "${named}" is not a valid name: 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit (it names files)`,
    );
  }
  if (claim && !INSTANCE_RE.test(`${claim.prefix}1`)) {
    throw new GatewayError('config_invalid', `audit chain prefix "${claim.prefix}" does not make valid instance names`);
  }
  return named ?? UNNAMED_CHAIN;
}

/**
 * Take the first free slot's lock, `<prefix>1`, `<prefix>2`...: the first chain no live process holds. The
 * caller keeps the lock for its life. With every slot taken, fails naming them.
 */
export async function claimChain(
  dir: string,
  lockOptions: AuditLockOptions | undefined,
  { prefix, slots }: { prefix: string; slots: number },
): Promise<{ lock: DirLock; chain: string }> {
  for (let k = 1; k <= slots; k++) {
    const lock = new DirLock(dir, lockOptions, `${prefix}${k}`);
    let taken: boolean;
    try {
      taken = await lock.tryAcquire();
    } catch (e) {
      throw fileLogUnavailable(dir, `cannot lock audit log ${dir}`, e);
    }
    if (taken) return { lock, chain: `${prefix}${k}` };
    await lock.close();
  }
  throw new GatewayError(
    'audit_unavailable',
    `audit log ${dir}: all ${slots} chains ${prefix}1..${prefix}${slots} are held by live processes; stop one of them (or give this one an audit directory of its own)`,
    { details: { dir } },
  );
}
