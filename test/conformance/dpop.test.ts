/**
 * The conformance suite's DPoP client scenarios (SEP-1932, RFC 9449) of
 * @modelcontextprotocol/conformance 0.2.0-alpha.12, `auth/dpop` and `auth/dpop-nonce`, against
 * tools/conformance/dpop-client.ts: the token request's proof and nonce retry are the gateway's
 * src/xaa/dpop-request.ts, the MCP requests its upstream connection (src/catalog/upstream.ts) with a
 * DPoP-bound token. The authorization code steps before them are the harness's: the gateway never
 * gets its outbound tokens that way (docs/conformance.md).
 */
import { describe, expect, it } from 'vitest';
import { describeCheck, judged, runConformance } from '../../tools/conformance/run.js';

const REQUIRED: Record<string, string[]> = {
  'auth/dpop': ['sep-1932-client-token-request-proof', 'sep-1932-client-dpop-auth-scheme', 'sep-1932-client-fresh-proof'],
  'auth/dpop-nonce': [
    'sep-1932-client-token-request-proof',
    'sep-1932-client-dpop-auth-scheme',
    'sep-1932-client-fresh-proof',
    'sep-1932-client-as-nonce',
    'sep-1932-client-rs-nonce',
  ],
};

describe.concurrent('conformance client scenarios auth/dpop and auth/dpop-nonce', () => {
  it.each(Object.keys(REQUIRED))('%s: every check passes', { timeout: 180_000 }, async (scenario) => {
    const run = await runConformance(['client', '--command', 'npm run -s conformance-client --', '--scenario', scenario, '--timeout', '120000'], {
      timeoutMs: 170_000,
    });
    const bad = judged(run.checks).filter((c) => c.status !== 'SUCCESS');
    expect(bad.map(describeCheck), `client stderr:\n${run.stderr}`).toEqual([]);
    expect(
      REQUIRED[scenario]!.filter((id) => !run.checks.some((c) => c.id === id && c.status === 'SUCCESS')),
      'required checks not SUCCESS',
    ).toEqual([]);
    expect(run.code, `conformance CLI exit code\n${run.stdout}\n${run.stderr}`).toBe(0);
  });
});
