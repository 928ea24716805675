export * from './schema.js';
export { loadConfigFile, parseConfigText, buildRuntimeConfig, DEFAULT_CONFIG_FILE, type RuntimeConfig } from './load.js';
export { ConfigStore, type ConfigWatchEvents } from './watch.js';
export { configJsonSchema } from './json-schema.js';
export { formatPath, formatIssues } from './errors.js';
