/**
 * The conformance suite's server scenarios (@modelcontextprotocol/conformance 0.2.0-alpha.12) against
 * the real gateway: `xaa-gateway serve` with the conformance upstream as its only tools (empty
 * prefix, so the names the scenarios call are the gateway's), reached through the auth-adding proxy
 * with a demo user's gateway token (test/conformance/harness.ts). Each applicable scenario of
 * tools/conformance/scenarios.ts runs once per revision it belongs to, at that revision's wire
 * (`--spec-version`), in that revision's run of the whole suite against one gateway. Every check must be SUCCESS, except INFO (the
 * suite's log), SKIPPED (the suite's own verdict that an optional behaviour is absent), the checks
 * the table marks as probing a feature the gateway does not offer, and the table's KNOWN_FAILURES
 * (work left, asserted exactly so that a fix or a regression shows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCheck, judged, listServerScenarios, runServerSuite, type ServerSuiteRun } from '../../tools/conformance/run.js';
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

// Each revision's scenarios run in one CLI process (`--suite all --spec-version`), the two revisions side
// by side against the one gateway: one process per scenario spent more CPU starting the CLI than the
// scenarios took. Each test reads its own scenario's checks from its revision's run.
describe('conformance server scenarios through the gateway', () => {
  const runs = applicableRuns();
  const revisions = [...new Set(runs.map((r) => r.revision))];
  const suites = new Map<string, ServerSuiteRun>();
  const before = new Map<string, number>();

  beforeAll(async () => {
    for (const tool of Object.values(UPSTREAM_TOOL)) before.set(tool, gw.upstream.calls.get(tool) ?? 0);
    const done = await Promise.all(revisions.map((revision) => runServerSuite(gw.mcpUrl, revision, { timeoutMs: 600_000, scenarioTimeoutMs: 30_000 })));
    revisions.forEach((revision, i) => suites.set(revision, done[i]!));
  }, 660_000);

  for (const { scenario, revision } of runs) {
    it(`${scenario.name} @ ${revision}`, () => {
      const suite = suites.get(revision)!;
      const checks = suite.scenarios.get(scenario.name);
      expect(
        checks,
        `the suite did not run ${scenario.name} at ${revision}; its output:\n${suite.stdout.slice(-3000)}\n${suite.stderr.slice(-2000)}`,
      ).toBeDefined();
      const exempt = scenario.notApplicableChecks ?? {};
      const bad = judged(checks!).filter((c) => c.status !== 'SUCCESS' && c.status !== 'SKIPPED' && !(c.id in exempt));
      const known = KNOWN_FAILURES[`${scenario.name}@${revision}`]?.checks ?? [];
      // Exactly the known failures (tools/conformance/scenarios.ts), each named with its message.
      expect(bad.filter((c) => !known.includes(c.id)).map(describeCheck), `unexpected failures; proxy log:\n${gw.proxy.log.slice(-20).join('\n')}`).toEqual([]);
      expect(
        known.filter((id) => !bad.some((c) => c.id === id)),
        'now passing: remove them from KNOWN_FAILURES in tools/conformance/scenarios.ts',
      ).toEqual([]);
      if (!scenario.mayJudgeNothing)
        expect(
          judged(checks!).some((c) => c.status === 'SUCCESS'),
          'at least one check passed',
        ).toBe(true);
      // Each of these scenarios calls a tool of its own: every run of it must have reached the upstream through the gateway.
      const tool = UPSTREAM_TOOL[scenario.name];
      if (tool) {
        const runsOfTool = runs.filter((r) => r.scenario.name === scenario.name).length;
        expect((gw.upstream.calls.get(tool) ?? 0) - before.get(tool)!, `${tool} reached the upstream once per run of ${scenario.name}`).toBeGreaterThanOrEqual(
          runsOfTool,
        );
      }
    });
  }
});
