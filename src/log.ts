/**
 * Structured JSON logs on stderr (stdout belongs to the MCP stdio transport). Fields whose names
 * look like credentials are redacted before anything is written.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /token|secret|assertion|password|authorization|id_jag|idjag|cookie|private/i;
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // Fingerprints and jtis are safe to log by design; everything else that smells like a credential is not.
    out[k] = SECRET_KEY.test(k) && !/fingerprint|jti|type/i.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void; name?: string } = {}): Logger {
  const min = ORDER[opts.level ?? ((process.env.XAA_LOG_LEVEL as LogLevel | undefined) ?? 'info')] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const log = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, name: opts.name ?? 'xaa-gateway', msg, ...(redact(fields ?? {}) as object) }));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
