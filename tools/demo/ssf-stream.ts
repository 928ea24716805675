import type { RuntimeConfig } from '../../src/config/index.js';
import { resolveSsfSettings, SSF_PUSH_PATH } from '../../src/ssf/index.js';
import type { DemoEnterprise } from './types.js';

/**
 * `npm start`: when the gateway's config takes security events from the demo IdP by push, the demo
 * IdP gets a stream to the gateway's receiver (what an IdP admin would configure). Returns lines
 * for the banner: how a person raises events from the demo IdP.
 */
export function connectSecurityEvents(demo: DemoEnterprise, runtime: RuntimeConfig, gatewayListenUrl: string): string[] {
  const s = resolveSsfSettings(runtime);
  if (!s || s.transmitter !== demo.urls.idp) return [];
  if (s.delivery === 'push') {
    demo.ssf.createStream({
      aud: s.audiences[0]!,
      delivery: {
        method: 'push',
        endpointUrl: `${gatewayListenUrl}${SSF_PUSH_PATH}`,
        ...(s.pushToken ? { authorizationHeader: `Bearer ${s.pushToken}` } : {}),
      },
    });
  }
  const curl = `curl -X POST -H "Authorization: Bearer $(cat tools/demo/secrets/idp-admin-token)" ${demo.urls.idp}/control`;
  return [
    `Security events (Shared Signals, ${s.delivery}): the demo IdP tells the gateway when its admin acts on a user:`,
    `     ${curl}/users/alice/deactivate          (RISC account-disabled: alice is blocked at once)`,
    `     ${curl}/users/alice/activate            (RISC account-enabled: lifted)`,
    `     ${curl}/users/alice/sign-out-everywhere (CAEP session-revoked)`,
  ];
}
