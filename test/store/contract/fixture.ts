/**
 * What every part of the Store contract shares: one store instance per engine (PGlite takes about a
 * second to start; `reopen` replaces it), its clock, and the records most tests start from. Every
 * test uses its own ids.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { SqlStore } from '../../../src/store/sql-store.js';
import type { RefreshTokenRecord, Store } from '../../../src/store/index.js';

export const KEY = randomBytes(32).toString('base64');
export const OTHER_KEY = randomBytes(32).toString('hex');
export const T0 = 1_800_000_000_000;
export const MIN = 60_000;

export type OpenForTest = (opts: { encryptionKey: string; now: () => number }) => Promise<Store>;

export const rid = (p: string) => `${p}-${randomBytes(6).toString('hex')}`;

export class StoreFixture {
  /** The store under test: opened before the first test, replaced by `reopen`. */
  store!: Store;
  /** What the store reads as now; a test that moves it puts it back to T0. */
  clock = T0;
  readonly now = () => this.clock;

  constructor(readonly open: OpenForTest) {}

  readonly raw = async <R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> => {
    if (!(this.store instanceof SqlStore)) throw new Error('raw access needs the SqlStore');
    return (await this.store.sql.query<R>(text, params)).rows;
  };

  readonly reopen = async (encryptionKey = KEY) => {
    await this.store.close();
    this.store = await this.open({ encryptionKey, now: this.now });
  };

  readonly newSession = (over: { iss?: string; sub?: string; idpRefreshToken?: string } = {}) =>
    this.store.createUserSession({
      iss: over.iss ?? 'https://idp.example',
      sub: over.sub ?? rid('user'),
      email: 'ada@example.com',
      name: 'Ada',
      idToken: rid('id-token'),
      idTokenExpiresAt: T0 + 60 * MIN,
      idpRefreshToken: over.idpRefreshToken ?? rid('idp-rt'),
    });

  readonly newRefresh = async (over: Partial<RefreshTokenRecord> = {}): Promise<RefreshTokenRecord> => {
    const sessionId = over.sessionId ?? (await this.newSession()).id;
    const r: RefreshTokenRecord = {
      tokenHash: rid('rt-hash'),
      familyId: rid('family'),
      sessionId,
      clientId: 'agent-a',
      scopes: ['mcp:tools'],
      resource: 'https://gw.example/mcp',
      createdAt: T0,
      expiresAt: T0 + 30 * 24 * 60 * MIN,
      ...over,
    };
    await this.store.saveRefreshToken(r);
    return r;
  };

  readonly nextOf = (over: { expiresAt?: number } = {}) => ({
    tokenHash: rid('rt-hash'),
    scopes: ['mcp:tools'],
    resource: 'https://gw.example/mcp',
    createdAt: T0 + MIN,
    expiresAt: over.expiresAt ?? T0 + 60 * 24 * 60 * MIN,
  });
}

/** The fixture of one run of the contract, its store opened before the first test and closed after the last. */
export function storeFixture(open: OpenForTest): StoreFixture {
  const fx = new StoreFixture(open);
  beforeAll(async () => {
    fx.store = await open({ encryptionKey: KEY, now: fx.now });
  });
  afterAll(async () => {
    await fx.store?.close();
  });
  return fx;
}
