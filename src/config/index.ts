export * from './schema.js';
export { loadConfigFile, parseConfigText, buildRuntimeConfig, DEFAULT_CONFIG_FILE, type RuntimeConfig, type FleetInForce } from './load.js';
export { ConfigStore, type ConfigWatchEvents } from './watch.js';
export { configJsonSchema } from './json-schema.js';
export { formatPath, formatIssues } from './errors.js';
export {
  FleetConfigSync,
  startFleetConfig,
  composeFleetConfig,
  fleetVersion,
  fleetDocOf,
  withFleetDoc,
  parseFileObject,
  describeSource,
  FLEET_SECTIONS,
  type FleetBackend,
  type FleetSyncOptions,
  type StartFleetConfigOptions,
} from './fleet.js';
