/**
 * MCP's stdio shutdown (Lifecycle, "stdio"): the client closes stdin, then sends SIGTERM if the server
 * has not exited, then SIGKILL. Many clients send SIGTERM at once. A stdio gateway, a shared host and a
 * relay all stop on these as on stdin's end; a second one exits at once.
 */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
