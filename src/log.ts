import pino, { type DestinationStream } from 'pino';

/**
 * Structured JSON logs (pino) on stderr: stdout belongs to the MCP stdio transport. Fields whose names
 * look like credentials are redacted before anything is written; the rest of the code only sees the
 * small `Logger` interface below.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /token|secret|assertion|password|authorization|id_jag|idjag|cookie|private/i;
/** Fingerprints and jtis are safe to log by design (docs/security.md), and so are token *types*. */
const SAFE_KEY = /fingerprint|jti|type/i;
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Replaces the value of every field whose name smells like a credential, at any depth (pino's own
 * `redact` takes fixed paths; a token can sit under any key). Errors keep only name, message and code.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && !SAFE_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

function levelFromEnv(): LogLevel {
  const v = process.env.XAA_LOG_LEVEL?.trim().toLowerCase();
  return LEVELS.includes(v as LogLevel) ? (v as LogLevel) : 'info';
}

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void; name?: string } = {}): Logger {
  const write = opts.write;
  // Synchronous stderr: a log line written just before process.exit must not be lost.
  const destination: DestinationStream = write
    ? { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) }
    : pino.destination({ fd: 2, sync: true });
  const p = pino(
    {
      level: opts.level && LEVELS.includes(opts.level) ? opts.level : levelFromEnv(),
      base: { name: opts.name ?? 'xaa-gateway' },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors are already reduced by redact() (no stack: it may quote a request); keep them as they are.
      serializers: { err: (e: unknown) => e },
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redact(fields) as Record<string, unknown>,
      },
    },
    destination,
  );
  const log = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => (fields ? p[level](fields, msg) : p[level](msg));
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
