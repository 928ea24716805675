/**
 * The one LISTEN connection of a PostgreSQL store, shared by every channel (kill switches, fleet
 * config, ...), and re-opened when PostgreSQL drops it. A pooled connection cannot hold a LISTEN
 * (it is handed to other queries), so this is a dedicated `pg.Client`.
 *
 * Why heal: NOTIFY is fire-and-forget (PostgreSQL docs, "NOTIFY": a session that is not listening
 * at commit time never gets the notification). While the connection is down, changes made by other
 * instances reach this one only by the revision polls. On every (re)connect each channel's callback
 * runs once, so the subscribers re-read their revisions and nothing changed during the outage waits
 * for the next poll.
 */
import pg from 'pg';
import type { Logger } from '../log.js';

export interface ListenStatus {
  /** The LISTEN connection is open and listening on every channel. */
  up: boolean;
  /** Channels listened on. */
  channels: number;
  /** Times the connection was re-opened after a loss (not counting the first connect). */
  reconnects: number;
  /** Epoch ms since when it is down (undefined while up). */
  downSince?: number;
  /** Why it went down last (a PostgreSQL error message; never a connection string). */
  lastError?: string;
  /** Backend process id of the connection (pg_stat_activity.pid), for operators and tests. */
  pid?: number;
}

export interface ListenerOptions {
  /** First retry after this (ms), doubled per failed attempt. Default 100. */
  baseDelayMs?: number;
  /** Retries are never further apart than this (ms). Default 10 000. */
  maxDelayMs?: number;
  /** A `SELECT 1` on the connection this often finds a silently dead one (ms; 0 = off). Default 30 000. */
  pingMs?: number;
  /** pg_stat_activity.application_name of the connection. Default "xaa-gateway-listen". */
  applicationName?: string;
  random?: () => number;
  now?: () => number;
}

type Callback = () => void;

/** pg sets `processID` from BackendKeyData; its type declarations do not list it. */
const backendPid = (c: pg.Client | undefined): number | undefined => (c as unknown as { processID?: number | null } | undefined)?.processID ?? undefined;

export class PgListener {
  readonly #channels = new Map<string, Set<Callback>>();
  readonly #opts: Required<ListenerOptions>;
  #client?: pg.Client;
  #connecting?: Promise<void>;
  #timer?: NodeJS.Timeout;
  #ping?: NodeJS.Timeout;
  #attempt = 0;
  #reconnects = 0;
  #everUp = false;
  #downSince?: number;
  #lastError?: string;
  #closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger | undefined,
    opts: ListenerOptions = {},
  ) {
    this.#opts = {
      baseDelayMs: opts.baseDelayMs ?? 100,
      maxDelayMs: opts.maxDelayMs ?? 10_000,
      pingMs: opts.pingMs ?? 30_000,
      applicationName: opts.applicationName ?? 'xaa-gateway-listen',
      random: opts.random ?? Math.random,
      now: opts.now ?? Date.now,
    };
  }

  status(): ListenStatus {
    const up = this.#client !== undefined && this.#downSince === undefined && !this.#connecting;
    return {
      up,
      channels: this.#channels.size,
      reconnects: this.#reconnects,
      ...(this.#downSince !== undefined ? { downSince: this.#downSince } : {}),
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      ...(up && backendPid(this.#client) ? { pid: backendPid(this.#client) } : {}),
    };
  }

  /**
   * Listens on `channel`. Resolves once the channel is listened on, or (when PostgreSQL cannot be
   * reached now) once the first attempt failed: the registration is kept and the connection is
   * retried in the background; `onNotify` runs when it is back.
   */
  async listen(channel: string, onNotify: Callback): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error('the store is closed');
    let set = this.#channels.get(channel);
    const isNew = !set;
    if (!set) this.#channels.set(channel, (set = new Set()));
    set.add(onNotify);
    if (!this.#client && !this.#connecting && !this.#timer) {
      await this.#connect();
    } else if (this.#connecting) {
      await this.#connecting; // #connect LISTENs on every registered channel, this one included
    } else if (isNew && this.#client && this.#downSince === undefined) {
      await this.#client.query(`LISTEN "${channel}"`).catch((e: Error) => this.#lost(this.#client!, e));
    }
    return async () => {
      const s = this.#channels.get(channel);
      s?.delete(onNotify);
      if (s && s.size === 0) {
        this.#channels.delete(channel);
        if (this.#client && this.#downSince === undefined) await this.#client.query(`UNLISTEN "${channel}"`).catch(() => undefined);
      }
      if (this.#channels.size === 0) await this.#stop();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#channels.clear();
    await this.#stop();
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    this.#timer = undefined;
    this.#ping = undefined;
    const client = this.#client;
    this.#client = undefined;
    this.#downSince = undefined;
    this.#attempt = 0;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }

  #connect(): Promise<void> {
    this.#connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.databaseUrl,
        connectionTimeoutMillis: 10_000,
        application_name: this.#opts.applicationName,
        // TCP keepalives find a peer gone without a FIN (a partition) long before the OS default.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
      });
      client.on('error', (err) => this.#lost(client, err));
      client.on('end', () => this.#lost(client, new Error('the connection was closed')));
      client.on('notification', (msg) => {
        for (const cb of this.#channels.get(msg.channel) ?? []) cb();
      });
      try {
        await client.connect();
        for (const channel of this.#channels.keys()) await client.query(`LISTEN "${channel}"`);
      } catch (e) {
        client.removeAllListeners();
        client.on('error', () => undefined);
        await client.end().catch(() => undefined);
        this.#failed(e as Error);
        return;
      }
      if (this.#closed || this.#channels.size === 0) {
        client.removeAllListeners('end');
        await client.end().catch(() => undefined);
        return;
      }
      const wasDown = this.#downSince !== undefined;
      const downFor = this.#downSince === undefined ? 0 : this.#opts.now() - this.#downSince;
      this.#client = client;
      this.#downSince = undefined;
      this.#attempt = 0;
      const everUp = this.#everUp;
      this.#everUp = true;
      this.#startPing(client);
      if (wasDown) {
        if (everUp) this.#reconnects++;
        this.logger?.info('store: LISTEN connection re-opened; re-reading what changed meanwhile', { downMs: downFor, reconnects: this.#reconnects });
        // Changes committed while it was down were announced to nobody here: re-read once now.
        for (const set of this.#channels.values()) for (const cb of set) cb();
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** The connection broke (terminated by an admin, a failover, the network): reconnect with backoff. */
  #lost(client: pg.Client, err: Error): void {
    if (client !== this.#client) return; // an old connection's late events
    this.#client = undefined;
    clearInterval(this.#ping);
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.#closed) return;
    this.#failed(err);
  }

  #failed(err: Error): void {
    const first = this.#downSince === undefined;
    this.#downSince ??= this.#opts.now();
    this.#lastError = err.message.slice(0, 200);
    if (first) {
      this.logger?.warn('store: LISTEN connection lost; reconnecting with backoff; changes from other instances arrive by the poll meanwhile', {
        error: this.#lastError,
      });
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer || this.#channels.size === 0) return;
    // Exponential backoff, capped, with "equal jitter" (half fixed, half random) so instances that
    // lost PostgreSQL together do not all reconnect in the same millisecond.
    const ceiling = Math.min(this.#opts.maxDelayMs, this.#opts.baseDelayMs * 2 ** this.#attempt);
    const delay = ceiling / 2 + this.#opts.random() * (ceiling / 2);
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
    this.#timer.unref();
  }

  #startPing(client: pg.Client): void {
    if (this.#opts.pingMs <= 0) return;
    clearInterval(this.#ping);
    this.#ping = setInterval(() => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the LISTEN connection did not answer a ping within 5 s')), 5_000);
      });
      Promise.race([client.query('SELECT 1'), timeout])
        .catch((e: Error) => this.#lost(client, e))
        .finally(() => clearTimeout(timer));
    }, this.#opts.pingMs);
    this.#ping.unref();
  }
}
