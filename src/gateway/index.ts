export { Gateway, type CallContext, type GatewayOptions } from './gateway.js';
export type { CallOutcome } from './outcome.js';
export { toolErrorResult } from './tool-error.js';
export type { ResolvedTool, ToolDirectory } from './tools.js';
