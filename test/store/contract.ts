/**
 * The Store contract: one suite, run against every engine (pglite.test.ts, postgres.test.ts), in
 * one part per repository of src/store (contract/*.ts). The parts share one store instance per
 * engine and run in this order: some read what earlier ones left (reopened stores, revisions).
 */
import { describe } from 'vitest';
import { accessTokensContract } from './contract/access-tokens.js';
import { assertionsContract } from './contract/assertions.js';
import { adminControlContract } from './contract/admin-control.js';
import { adminSessionsContract } from './contract/admin-sessions.js';
import { authFeedContract } from './contract/auth-feed.js';
import { authorizationContract } from './contract/authorization.js';
import { clientsContract } from './contract/clients.js';
import { encryptionContract } from './contract/encryption.js';
import { storeFixture, type OpenForTest } from './contract/fixture.js';
import { fleetConfigContract } from './contract/fleet-config.js';
import { housekeepingContract } from './contract/housekeeping.js';
import { killSwitchesContract } from './contract/kill-switches.js';
import { refreshTokensContract } from './contract/refresh-tokens.js';
import { restartContract } from './contract/restart.js';
import { schemaContract } from './contract/schema.js';
import { scimContract } from './contract/scim.js';
import { securityEventsContract } from './contract/security-events.js';
import { signingKeysContract } from './contract/signing-keys.js';
import { userSessionsContract } from './contract/user-sessions.js';

export { KEY, OTHER_KEY, T0, type OpenForTest } from './contract/fixture.js';

export function storeContract(name: string, open: OpenForTest, opts: { skip?: boolean } = {}): void {
  describe.skipIf(opts.skip ?? false)(`Store contract: ${name}`, () => {
    const fx = storeFixture(open);
    schemaContract(fx);
    userSessionsContract(fx);
    clientsContract(fx);
    authorizationContract(fx);
    refreshTokensContract(fx);
    adminControlContract(fx);
    killSwitchesContract(fx);
    fleetConfigContract(fx);
    adminSessionsContract(fx);
    accessTokensContract(fx);
    authFeedContract(fx);
    securityEventsContract(fx);
    scimContract(fx);
    assertionsContract(fx);
    signingKeysContract(fx);
    encryptionContract(fx);
    restartContract(fx);
    housekeepingContract(fx);
  });
}
