import pg from 'pg';

/**
 * One database connection held for the audit's rounds, opened on first use and opened again after it
 * fails. The sink runs one round at a time, so a pool gives it nothing but its own cost: checking a
 * client out and back in for every commit took 75-100 µs of the call's path on this project's 2-core
 * machine (pg-pool 3.14: a SELECT 1 at 0.35 ms through `pool.query`, 0.27 ms on the same client held).
 *
 * A statement that the database refused with an ERROR (a unique violation, a permission) leaves the
 * connection usable. Anything else (a FATAL such as an administrator's termination, the connection lost,
 * the client's query timeout, whose answer could still arrive) ends it, and the next statement opens a new one; `onLost` tells the sink, which re-reads
 * its chain's head before the next round.
 */
export class HeldConnection {
  readonly #config: pg.ClientConfig;
  readonly #onLost: () => void;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  #closed = false;

  constructor(config: pg.ClientConfig, onLost: () => void) {
    this.#config = config;
    this.#onLost = onLost;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(query: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    const client = this.#client ?? (await (this.#connecting ??= this.#connect()));
    try {
      return await client.query<R>(query);
    } catch (e) {
      if (!(e instanceof pg.DatabaseError && e.severity === 'ERROR')) this.#drop(client);
      throw e;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<pg.Client> {
    if (this.#closed) throw new Error('the audit connection is closed');
    const client = new pg.Client(this.#config);
    // A connection that fails while idle (database restart) must not crash the process.
    client.on('error', () => this.#drop(client));
    client.on('end', () => this.#drop(client));
    try {
      await client.connect();
    } catch (e) {
      this.#connecting = undefined;
      // Not awaited: a client whose connect failed may never emit the 'end' that end() waits for.
      void client.end().catch(() => {});
      throw e;
    }
    this.#connecting = undefined;
    if (this.#closed) {
      await client.end().catch(() => {});
      throw new Error('the audit connection is closed');
    }
    this.#client = client;
    return client;
  }

  #drop(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#onLost();
    void client.end().catch(() => {});
  }
}
