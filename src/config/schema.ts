/**
 * The schema of mcp.config.json. It is the single source of truth: the TypeScript types, the
 * validation of `config check` and of hot reloads, and mcp.config.schema.json (for editors) all
 * come from here. Each section is a file of schema/; the order of an object's keys is the order of
 * the generated JSON Schema's properties.
 */
export { INSTANCE_RE } from './schema/audit.js';
export { ClientAuth, OAuthClient, SecretRef } from './schema/common.js';
export { AdminConfig, ScimClientConfig, ScimConfig, SsfConfig } from './schema/control.js';
export { GatewayConfig, type GatewayConfigInput } from './schema/gateway.js';
export { StdioConfig, ToolRateLimitsConfig } from './schema/limits.js';
export { ObservabilityConfig } from './schema/observability.js';
export { IdpConfig, ResourceConfig } from './schema/resources.js';
export { ACCESS_TOKEN_TTL_MAX_S, OVERLOAD_DEFAULTS, OverloadConfig, PreRegisteredClient, ServerConfig } from './schema/server.js';
export { HttpOperation, ToolConfig, UpstreamConfig } from './schema/tools.js';
