import { describeNetworkError } from '../xaa/http.js';

/** A failure the admin CLI prints as is: it says what went wrong and what to do. */
export class AdminCliError extends Error {
  override readonly name = 'AdminCliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the admin API's JSON; callers name T where they read it
export interface AdminResponse<T = any> {
  status: number;
  /** The config version (ETag without quotes). */
  version?: string;
  /** Where tools, resources and upstreams are kept (X-Config-Source): "file" or "store" (a fleet). */
  source?: 'file' | 'store';
  /** Fleet mode: the store's revision of this response (X-Config-Revision). */
  revision?: number;
  body: T;
}

/** The admin API over HTTP with a bearer admin token; errors become AdminCliError with the fix. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: typeof fetch = (i, init) => globalThis.fetch(i, init),
  ) {}

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as AdminResponse
  async request<T = any>(method: string, path: string, opts: { body?: unknown; ifMatch?: string; allow?: number[] } = {}): Promise<AdminResponse<T>> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/admin/api${path}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          Accept: 'application/json',
          ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...(opts.ifMatch ? { 'If-Match': `"${opts.ifMatch}"` } : {}),
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      throw new AdminCliError(`cannot reach the gateway at ${this.baseUrl} (${describeNetworkError(e)}): is \`xaa-gateway serve\` running there? (--url)`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const version =
      res.headers
        .get('etag')
        ?.replace(/^W\//, '')
        .replace(/^"(.*)"$/, '$1') || undefined;
    const source = res.headers.get('x-config-source');
    const revision = Number(res.headers.get('x-config-revision') ?? NaN);
    if (res.ok || opts.allow?.includes(res.status)) {
      return {
        status: res.status,
        ...(version ? { version } : {}),
        ...(source === 'file' || source === 'store' ? { source } : {}),
        ...(Number.isInteger(revision) ? { revision } : {}),
        body: body as T,
      };
    }
    throw failure(res.status, body, this.baseUrl);
  }
}

function failure(status: number, json: unknown, baseUrl: string): AdminCliError {
  const body = (typeof json === 'object' && json !== null ? json : {}) as { message?: unknown; error?: unknown; issues?: unknown };
  const message: string = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  switch (status) {
    case 401:
      return new AdminCliError(
        `the gateway refused the admin token (${message})\nfix: set XAA_ADMIN_TOKEN (or pass --token) to one of the tokens listed in admin.tokens of the gateway's mcp.config.json`,
      );
    case 403:
      return new AdminCliError(`forbidden: ${message}`);
    case 404:
      return new AdminCliError(
        body.error ? `not found: ${message}` : `not found at ${baseUrl}: is this an xaa-gateway (xaa-gateway serve) with the admin API?`,
      );
    case 409:
      return new AdminCliError(`conflict: ${message}\nfix: run the command again (it reads the current version first)`);
    case 400:
    case 428: {
      const issues: Array<{ path: string; message: string }> = Array.isArray(body.issues) ? (body.issues as Array<{ path: string; message: string }>) : [];
      return new AdminCliError(issues.length ? `invalid:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}` : `invalid: ${message}`);
    }
    default:
      return new AdminCliError(`the gateway answered ${status}: ${message}`);
  }
}
