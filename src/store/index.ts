export type * from './types.js';
export { openStore, describeStoreLocation, type OpenStoreOptions } from './open.js';
export type { ListenerOptions } from './listener.js';
export { parseEncryptionKey } from './crypto.js';
export { MIGRATIONS } from './schema.js';
