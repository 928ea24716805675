/**
 * The public SEP-990 client check, `auth/enterprise-managed-authorization` of
 * @modelcontextprotocol/conformance 0.2.0-alpha.12 (the scenario earlier releases called
 * `auth/cross-app-access-complete-flow`), against tools/conformance/client.ts, which runs the flow on
 * the gateway's own src/xaa code. The suite starts an IdP, an authorization server that takes only
 * the JWT bearer grant with client_secret_basic, and an MCP server; it is an extension scenario, so
 * it runs at the suite's default wire (2025-11-25).
 */
import { describe, expect, it } from 'vitest';
import { describeCheck, judged, runConformance } from '../../tools/conformance/run.js';

const SCENARIO = 'auth/enterprise-managed-authorization';
/** Every check the scenario makes when the whole flow runs (it adds the two flow checks as FAILURE when skipped). */
const REQUIRED = [
  'prm-pathbased-requested',
  'authorization-server-metadata',
  'complete-flow-token-exchange',
  'token-request',
  'complete-flow-jwt-bearer',
  'valid-bearer-token',
];

describe(`conformance client scenario ${SCENARIO}`, () => {
  it('passes every check', { timeout: 180_000 }, async () => {
    const run = await runConformance(['client', '--command', 'npm run -s conformance-client --', '--scenario', SCENARIO, '--timeout', '120000'], {
      timeoutMs: 170_000,
    });
    const bad = judged(run.checks).filter((c) => c.status !== 'SUCCESS');
    expect(bad.map(describeCheck), `client stderr:\n${run.stderr}`).toEqual([]);
    expect(
      REQUIRED.filter((id) => !run.checks.some((c) => c.id === id && c.status === 'SUCCESS')),
      'required checks not SUCCESS',
    ).toEqual([]);
    expect(run.code, `conformance CLI exit code\n${run.stdout}\n${run.stderr}`).toBe(0);
  });
});
