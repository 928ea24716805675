import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

const dataDir = await mkdtemp(join(tmpdir(), 'xaa-store-'));
afterAll(() => rm(dataDir, { recursive: true, force: true }));

storeContract('PGlite (embedded)', (o) => openStore({ dataDir, ...o }));
