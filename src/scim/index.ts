export { SCIM_BASE_PATH } from './constants.js';
export { createScimReceiver, type ScimReceiver, type ScimReceiverOptions } from './receiver.js';
export { resolveScimClients, type ScimClient } from './settings.js';
