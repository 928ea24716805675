export type * from './types.js';
export { openStore, type OpenStoreOptions } from './open.js';
export { parseEncryptionKey } from './crypto.js';
export { MIGRATIONS } from './schema.js';
