import { createHmac, randomBytes } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the stdio processes of one config and sign-in meet: a directory of this user's only, and in it
 * the shared host's socket, its lock and its log, all named by a key of what the host must have in
 * common with a client to serve it in the client's stead.
 */
export interface SharePlace {
  dir: string;
  key: string;
  /** The host's Unix socket. */
  socket: string;
  /** The host's stderr (it has no terminal). */
  log: string;
  /** Lock names (DirLock chains in `dir`): the first client's, and the host's. */
  soloLock: string;
  hostLock: string;
}

/** Longest Unix socket path: sun_path is 108 bytes on Linux, 104 on macOS (with its NUL). */
const MAX_SOCKET_PATH = 103;

export interface PlaceInput {
  configPath: string;
  credentialsPath: string;
  /** The config as loaded: the environment variables its secrets name are part of the key. */
  config: unknown;
  env: NodeJS.ProcessEnv;
  /** Default: $XDG_RUNTIME_DIR/xaa-gateway, else <tmpdir>/xaa-gateway-<uid>. */
  dir?: string;
}

/** The place, or why this process cannot share (then it serves its client itself). */
export function sharePlace(input: PlaceInput): SharePlace | { refused: string } {
  if (process.platform === 'win32' || typeof process.getuid !== 'function') return { refused: 'sharing needs Unix sockets (not on Windows)' };
  const uid = process.getuid();
  const dir = input.dir ?? (input.env.XDG_RUNTIME_DIR ? join(input.env.XDG_RUNTIME_DIR, 'xaa-gateway') : join(tmpdir(), `xaa-gateway-${uid}`));
  const unsafe = privateDir(dir, uid);
  if (unsafe) return { refused: unsafe };
  const salt = keySalt(dir);
  if (typeof salt === 'string') return { refused: salt };
  const key = shareKey(input, salt);
  const socket = join(dir, `${key}.sock`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    return { refused: `the socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes; set XDG_RUNTIME_DIR to a shorter directory` };
  }
  return { dir, key, socket, log: join(dir, `${key}.log`), soloLock: `${key}-solo`, hostLock: `${key}-host` };
}

/**
 * Creates the directory (0700) if needed; undefined if it is this user's alone, else why not. The
 * socket in it is the only gate to the host, so, as ssh-agent's and tmux's, it must be a real
 * directory (not a link someone else planted) owned by this uid and closed to group and others.
 */
function privateDir(dir: string, uid: number): string | undefined {
  try {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      // A file in its place: said below.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory()) return `${dir} is not a directory; remove it`;
    if (st.uid !== uid) return `${dir} belongs to uid ${st.uid}, not to this user (${uid}); remove it`;
    if ((st.mode & 0o077) !== 0) return `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`;
    return undefined;
  } catch (e) {
    return `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

const SELF = fileURLToPath(import.meta.url);

const SALT_FILE = 'key-salt';

/** The directory's salt for shareKey: 32 random bytes made once (0600), or why it cannot be read or made. */
function keySalt(dir: string): Buffer | string {
  const path = join(dir, SALT_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const salt = readFileSync(path);
      if (salt.length === 32) return salt;
      return `${path} is not a 32-byte salt; remove it`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    // Written whole under a name of this process's, then linked into place: link() is atomic and fails if
    // the name exists, so of two processes making it at once both read the one that won, never a part.
    const tmp = `${path}.${process.pid}`;
    try {
      writeFileSync(tmp, randomBytes(32), { mode: 0o600 });
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return `cannot read ${path}`;
}

/** Environment variables that change what the gateway does, beside the ones the config's secrets name. */
const ENV_PREFIXES = ['XAA_', 'NODE_', 'SSL_CERT_'];

/**
 * Same key, same gateway: the config file and credentials file (by real path; the config's content is
 * not in it, since the host reloads an edited config as any gateway does), the Node binary and flags,
 * the gateway's build (the entry script's path, and its size and mtime and this module's, so an
 * upgrade or a rebuild starts a host of its own), and the environment that reaches the gateway's behaviour or its secrets.
 * An HMAC under the directory's own random salt: the key is in file names and in the relays' log lines,
 * and secret values are among its inputs, so it must not be a plain hash one could test guesses against.
 */
export function shareKey(input: Omit<PlaceInput, 'dir'>, salt: Buffer): string {
  const entry = process.argv[1] ?? '';
  const names = new Set([...Object.keys(input.env).filter((n) => ENV_PREFIXES.some((p) => n.startsWith(p))), ...envRefs(input.config)]);
  const parts = [
    'xaa-gateway stdio share v1',
    real(input.configPath),
    real(input.credentialsPath),
    process.execPath,
    process.execArgv.join('\0'),
    real(entry),
    build(entry),
    // The code that runs: bin/ stays the same across `npm run build`, dist/ does not.
    build(SELF),
    ...[...names].sort().map((n) => `${n}=${input.env[n] ?? ''}`),
  ];
  return createHmac('sha256', salt).update(parts.join('\n')).digest('base64url').slice(0, 22);
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function build(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size} ${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/** Names of the environment variables the config's secret references (`{"env": NAME}`) read. */
function envRefs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) envRefs(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.env === 'string') out.push(o.env);
    for (const v of Object.values(o)) envRefs(v, out);
  }
  return out;
}
