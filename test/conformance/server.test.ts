/**
 * The conformance suite's server scenarios (@modelcontextprotocol/conformance 0.2.0-alpha.12) against
 * the real gateway: `xaa-gateway serve` with the conformance upstream as its only tools (empty
 * prefix, so the names the scenarios call are the gateway's), reached through the auth-adding proxy
 * with a demo user's gateway token (test/conformance/harness.ts). Each applicable scenario of
 * tools/conformance/scenarios.ts runs once per revision it belongs to, at that revision's wire
 * (`--spec-version`), sequentially against one gateway. Every check must be SUCCESS, except INFO (the
 * suite's log), SKIPPED (the suite's own verdict that an optional behaviour is absent), the checks
 * the table marks as probing a feature the gateway does not offer, and the table's KNOWN_FAILURES
 * (work left, asserted exactly so that a fix or a regression shows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCheck, judged, listServerScenarios, runConformance } from '../../tools/conformance/run.js';
import { applicableRuns, KNOWN_FAILURES, SERVER_SCENARIOS } from '../../tools/conformance/scenarios.js';
import { startConformanceGateway, type ConformanceGateway } from './harness.js';

/** The upstream tool a scenario calls: it must have reached the upstream through the gateway. */
const UPSTREAM_TOOL: Record<string, string> = {
  'tools-call-simple-text': 'test_simple_text',
  'tools-call-image': 'test_image_content',
  'tools-call-audio': 'test_audio_content',
  'tools-call-embedded-resource': 'test_embedded_resource',
  'tools-call-mixed-content': 'test_multiple_content_types',
  'tools-call-error': 'test_error_handling',
  'tools-call-with-progress': 'test_tool_with_progress',
};

let gw: ConformanceGateway;

beforeAll(async () => {
  gw = await startConformanceGateway();
});

afterAll(async () => {
  const exit = await gw?.close();
  if (gw) expect(exit, gw.gateway.stderr()).toBe(0);
});

describe('the scenario table covers the suite', () => {
  it('names every server scenario of 0.2.0-alpha.12 at 2025-11-25 and 2026-07-28, with the same revisions', { timeout: 120_000 }, async () => {
    const listed = await listServerScenarios();
    const ours = new Map(SERVER_SCENARIOS.map((s) => [s.name, s.revisions]));
    const relevant = [...listed].filter(([, v]) => v.includes('2025-11-25') || v.includes('2026-07-28') || v.includes('extension'));
    expect(
      relevant.map(([name]) => name).filter((n) => !ours.has(n)),
      'scenarios missing from the table',
    ).toEqual([]);
    for (const [name, versions] of relevant) {
      if (versions.includes('extension')) continue;
      expect(ours.get(name), name).toEqual(['2025-11-25', '2026-07-28'].filter((v) => versions.includes(v)));
    }
  });
});

// Scenarios run up to five at a time (vitest's maxConcurrency), against the one gateway: each is a CLI
// process of its own, mostly starting up and waiting on the gateway, and one after another they held a
// worker for half a minute. Each test reads its own run's checks; the upstream call counts only grow.
describe.concurrent('conformance server scenarios through the gateway', () => {
  for (const { scenario, revision } of applicableRuns()) {
    it(`${scenario.name} @ ${revision}`, { timeout: 90_000 }, async ({ expect }) => {
      const tool = UPSTREAM_TOOL[scenario.name];
      const before = tool ? (gw.upstream.calls.get(tool) ?? 0) : 0;
      const run = await runConformance(['server', '--url', gw.mcpUrl, '--scenario', scenario.name, '--spec-version', revision, '--timeout', '30000'], {
        timeoutMs: 80_000,
      });
      expect(run.stdout, 'the suite skipped the scenario').not.toMatch(/^SKIPPED: scenario/m);
      const exempt = scenario.notApplicableChecks ?? {};
      const bad = judged(run.checks).filter((c) => c.status !== 'SUCCESS' && c.status !== 'SKIPPED' && !(c.id in exempt));
      const known = KNOWN_FAILURES[`${scenario.name}@${revision}`]?.checks ?? [];
      // Exactly the known failures (tools/conformance/scenarios.ts), each named with its message.
      expect(bad.filter((c) => !known.includes(c.id)).map(describeCheck), `unexpected failures; proxy log:\n${gw.proxy.log.slice(-20).join('\n')}`).toEqual([]);
      expect(
        known.filter((id) => !bad.some((c) => c.id === id)),
        'now passing: remove them from KNOWN_FAILURES in tools/conformance/scenarios.ts',
      ).toEqual([]);
      if (!scenario.mayJudgeNothing)
        expect(
          judged(run.checks).some((c) => c.status === 'SUCCESS'),
          'at least one check passed',
        ).toBe(true);
      if (tool) expect(gw.upstream.calls.get(tool) ?? 0, `${tool} reached the upstream`).toBeGreaterThan(before);
    });
  }
});
