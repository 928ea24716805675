import { spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, statSync } from 'node:fs';
import { DirLock } from '../../../audit/lock.js';
import { loadConfigFile } from '../../../config/index.js';
import type { StdioOptions } from '../index.js';
import { createLogger } from '../../../log.js';
import { sharePlace, type SharePlace } from './place.js';
import { runRelay } from './relay.js';

export interface StdioCommand {
  configPath: string;
  credentialsPath: string;
  /** `--standalone`: serve this client in this process whatever the config says. */
  standalone?: boolean;
  /** `--share-host`: this process is the shared host (started by a relay). */
  shareHost?: boolean;
}

/** The host's log is started afresh (the previous one kept as .1) once it is this large. */
const LOG_ROTATE_BYTES = 1024 * 1024;

/**
 * `xaa-gateway stdio`. The first client of a config and sign-in is served in its own process, as a
 * lone desktop client always is. Each further one, while that first is running, is relayed to one
 * shared host (stdio.share, on by default): fifty clients are then one warm gateway, one audit chain
 * and one token cache rather than fifty of each. Returns the exit code.
 */
export async function runStdioCommand(cmd: StdioCommand): Promise<number> {
  const logger = createLogger();
  const paths = { configPath: cmd.configPath, credentialsPath: cmd.credentialsPath };
  // Loaded here so that a broken config fails in the client's own process, with its message on its stderr.
  const loaded = loadConfigFile(cmd.configPath);
  const base = { ...paths, loaded, logger };
  if (cmd.standalone) return standalone(base);
  const stdio = loaded.config.stdio;
  if (!stdio.share && !cmd.shareHost) return standalone(base);
  const place = sharePlace({ ...paths, config: loaded.config, env: process.env });
  if ('refused' in place) {
    if (cmd.shareHost) throw new Error(`stdio share: ${place.refused}`);
    logger.warn('stdio: this client is served in its own process, not shared', { reason: place.refused });
    return standalone(base);
  }
  const idleMs = () => stdio.shareIdleSeconds * 1000;
  if (cmd.shareHost) {
    const { runShareHost } = await import('./host.js');
    return runShareHost({ ...base, place, logger, idleMs });
  }

  const solo = new DirLock(place.dir, {}, place.soloLock);
  if (await solo.tryAcquire()) {
    try {
      return await standalone(base);
    } finally {
      await solo.close();
    }
  }
  await solo.close();
  const end = await runRelay({ place, startHost: () => startHost(cmd, place), stdin: process.stdin, stdout: process.stdout, logger });
  if ('code' in end) return end.code;
  logger.warn('stdio: no shared host could be reached; this client is served in its own process', { reason: end.unreachable });
  return standalone(base);
}

/** The gateway itself, loaded only here: a relay's process stays small (the config's schema and the relay). */
async function standalone(opts: StdioOptions): Promise<number> {
  const { runStdio } = await import('../index.js');
  await runStdio(opts);
  return 0;
}

/** The host, detached from this client's process group (the client's SIGKILL of its server must not reach it). */
function startHost(cmd: StdioCommand, place: SharePlace) {
  rotate(place.log);
  const log = openSync(place.log, 'a', 0o600);
  try {
    const args = [...process.execArgv, process.argv[1]!, '--config', cmd.configPath, '--credentials', cmd.credentialsPath, 'stdio', '--share-host'];
    return spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', log], env: process.env });
  } finally {
    closeSync(log);
  }
}

function rotate(path: string): void {
  try {
    if (statSync(path).size > LOG_ROTATE_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}
