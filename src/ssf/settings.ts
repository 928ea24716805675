import type { RuntimeConfig } from '../config/index.js';
import { readSecret } from '../config/secrets.js';
import { GatewayError } from '../errors.js';
import { isAllowedUrl } from '../xaa/http.js';

/** The `ssf` config section resolved for the receiver: audiences computed, secrets read. */
export interface SsfSettings {
  transmitter: string;
  audiences: string[];
  delivery: 'push' | 'poll';
  pushToken?: string;
  pollUrl?: string;
  pollToken?: string;
  pollIntervalMs: number;
  maxAgeSeconds: number;
  skewSeconds: number;
}

/** undefined when the config has no `ssf` section. Throws config errors that name the path. */
export function resolveSsfSettings(runtime: RuntimeConfig, env: NodeJS.ProcessEnv = process.env): SsfSettings | undefined {
  const ssf = runtime.config.ssf;
  if (!ssf) return undefined;
  // SETs are trusted because of where their keys come from: that must not be spoofable (SSF 1.0 §7.1.1 requires https).
  for (const [where, url] of [
    ['ssf.transmitter', ssf.transmitter],
    ['ssf.pollUrl', ssf.pollUrl],
  ] as const) {
    if (url !== undefined && !isAllowedUrl(new URL(url))) {
      throw new GatewayError('config_invalid', `${where}: must be an https URL (http is accepted only on loopback)`);
    }
  }
  const ctx = { baseDir: runtime.dir, env };
  let audiences: string[];
  if (ssf.audience) audiences = [ssf.audience];
  else {
    const publicUrl = runtime.config.server?.publicUrl;
    if (!publicUrl) throw new GatewayError('config_invalid', 'ssf.audience: set it, or server.publicUrl that it defaults to');
    // The origin with and without the trailing "/" name the same receiver.
    const origin = new URL(publicUrl).origin;
    audiences = [origin, `${origin}/`];
  }
  return {
    transmitter: ssf.transmitter,
    audiences,
    delivery: ssf.delivery,
    ...(ssf.pushToken ? { pushToken: readSecret(ssf.pushToken, 'ssf.pushToken', ctx) } : {}),
    ...(ssf.pollUrl ? { pollUrl: ssf.pollUrl } : {}),
    ...(ssf.pollToken ? { pollToken: readSecret(ssf.pollToken, 'ssf.pollToken', ctx) } : {}),
    pollIntervalMs: ssf.pollIntervalSeconds * 1000,
    maxAgeSeconds: ssf.maxAgeSeconds,
    skewSeconds: runtime.config.tokens.skewSeconds,
  };
}
