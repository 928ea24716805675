/**
 * Every server scenario of @modelcontextprotocol/conformance 0.2.0-alpha.12 at the two revisions the
 * gateway serves (the frozen lists of requirements/2026-07-28.yaml and 2025-11-25.yaml, with their
 * not_scored entries), and whether it applies to a tool gateway. A scenario that applies to both
 * revisions runs once under each wire (2025: initialize + session; 2026-07-28: stateless, per-request
 * _meta). test/conformance/server.test.ts runs the applicable ones; docs/conformance.md is the table.
 */

export type Revision = '2025-11-25' | '2026-07-28';

export interface ServerScenario {
  name: string;
  revisions: Revision[];
  /** Why the scenario does not apply to a tool gateway; absent when it applies and is run. */
  notApplicable?: string;
  /** Checks of an applicable scenario that probe a feature the gateway does not offer, with the reason. */
  notApplicableChecks?: Record<string, string>;
  /** Why the suite may legitimately judge nothing (INFO only) for this scenario against the gateway. */
  mayJudgeNothing?: string;
}

/**
 * Known failures of applicable scenarios: `<scenario>@<revision>` -> the failing check ids (a check id
 * repeated by the suite counts once) and their cause. The test asserts the failing set is exactly
 * this, so a fix fails the test until its entry is removed here, and a new failure fails it at once.
 * Every entry is work left for the gateway, not a verdict that the scenario does not apply.
 */
export const KNOWN_FAILURES: Record<string, { checks: string[]; cause: string }> = {};

const BOTH: Revision[] = ['2025-11-25', '2026-07-28'];
const Y25: Revision[] = ['2025-11-25'];
const Y26: Revision[] = ['2026-07-28'];

const NO_RESOURCES = 'the gateway serves tools only: it declares no resources capability and answers resources/* with -32601';
const NO_PROMPTS = 'the gateway serves tools only: it declares no prompts capability and answers prompts/* with -32601';
const NO_COMPLETION = 'completion/complete completes prompt and resource-template arguments; the gateway serves neither and declares no completions capability';
const NO_LOGGING =
  'logging is an optional server capability the gateway does not declare: what it does is recorded in its audit log, and it does not forward upstream log messages to the agent';
const NO_SERVER_REQUESTS =
  "needs the server to send sampling/elicitation requests to the client; the gateway never does (its tools are HTTP operations and upstream tools called for the user with a brokered token) and it does not relay an upstream's server-to-client requests to the agent";
const NO_MRTR =
  "needs a tool that answers with InputRequiredResult (SEP-2322 multi-round-trip: elicitation, sampling, roots). The gateway's tools never ask the agent for input, and the gateway does not relay an upstream's input requests (it would carry the upstream's requestState and the user's answers across the brokered-token boundary), so it never returns input_required";
const EXTENSION_TASKS = 'extension io.modelcontextprotocol/tasks (SEP-2663), optional by definition; the gateway does not declare it';
const EXTENSION_SKILLS = 'extension io.modelcontextprotocol/skills (SEP-2640), served over resources; the gateway declares neither';

export const SERVER_SCENARIOS: ServerScenario[] = [
  // Lifecycle and transport: the gateway's own endpoint.
  { name: 'server-initialize', revisions: Y25 },
  { name: 'server-session-lifecycle', revisions: Y25 },
  { name: 'server-stateless', revisions: Y26 },
  { name: 'ping', revisions: Y25 },
  { name: 'server-sse-multiple-streams', revisions: BOTH },
  {
    name: 'server-sse-polling',
    revisions: Y25,
    mayJudgeNothing:
      'the gateway answers a tools/call without a progressToken with one JSON body (it streams nothing mid-call), so there is no SSE stream to close and resume; the suite logs that the priming/resume checks are not applicable (INFO)',
  },
  { name: 'dns-rebinding-protection', revisions: BOTH },
  { name: 'http-header-validation', revisions: Y26 },
  { name: 'http-custom-header-server-validation', revisions: Y26 },
  {
    name: 'caching',
    revisions: Y26,
    notApplicableChecks: {
      'sep-2549-prompts-list-caching-hints': NO_PROMPTS,
      'sep-2549-resources-list-caching-hints': NO_RESOURCES,
      'sep-2549-resources-templates-list-caching-hints': NO_RESOURCES,
      'sep-2549-resources-read-caching-hints': NO_RESOURCES,
    },
  },
  // Tools: the gateway's reason to exist, reached through the upstream fixture.
  { name: 'tools-list', revisions: BOTH },
  { name: 'tools-call-simple-text', revisions: BOTH },
  { name: 'tools-call-image', revisions: BOTH },
  { name: 'tools-call-audio', revisions: BOTH },
  { name: 'tools-call-embedded-resource', revisions: BOTH },
  { name: 'tools-call-mixed-content', revisions: BOTH },
  { name: 'tools-call-error', revisions: BOTH },
  { name: 'tools-call-with-progress', revisions: BOTH },
  { name: 'json-schema-2020-12', revisions: BOTH },
  { name: 'tools-call-with-logging', revisions: Y25, notApplicable: NO_LOGGING },
  { name: 'logging-set-level', revisions: Y25, notApplicable: NO_LOGGING },
  { name: 'tools-call-sampling', revisions: Y25, notApplicable: NO_SERVER_REQUESTS },
  { name: 'tools-call-elicitation', revisions: Y25, notApplicable: NO_SERVER_REQUESTS },
  { name: 'elicitation-sep1034-defaults', revisions: Y25, notApplicable: NO_SERVER_REQUESTS },
  { name: 'elicitation-sep1330-enums', revisions: Y25, notApplicable: NO_SERVER_REQUESTS },
  { name: 'completion-complete', revisions: BOTH, notApplicable: NO_COMPLETION },
  ...['resources-list', 'resources-read-text', 'resources-read-binary', 'resources-templates-read'].map((name) => ({
    name,
    revisions: BOTH,
    notApplicable: NO_RESOURCES,
  })),
  ...['resources-subscribe', 'resources-unsubscribe'].map((name) => ({ name, revisions: Y25, notApplicable: NO_RESOURCES })),
  { name: 'sep-2164-resource-not-found', revisions: Y26, notApplicable: NO_RESOURCES },
  ...['prompts-list', 'prompts-get-simple', 'prompts-get-with-args', 'prompts-get-embedded-resource', 'prompts-get-with-image'].map((name) => ({
    name,
    revisions: BOTH,
    notApplicable: NO_PROMPTS,
  })),
  ...[
    'basic-elicitation',
    'basic-sampling',
    'basic-list-roots',
    'request-state',
    'multiple-input-requests',
    'multi-round',
    'missing-input-response',
    'non-tool-request',
    'result-type',
    'unsupported-methods',
    'tampered-state',
    'capability-check',
    'ignore-extra-params',
    'validate-input',
  ].map((s) => ({ name: `input-required-result-${s}`, revisions: Y26, notApplicable: NO_MRTR })),
  ...[
    'lifecycle',
    'capability-negotiation',
    'wire-fields',
    'request-state-removal',
    'mrtr-input',
    'request-headers',
    'dispatch-and-envelope',
    'status-notifications',
    'required-task-error',
    'mrtr-composition',
  ].map((s) => ({ name: `tasks-${s}`, revisions: Y26, notApplicable: EXTENSION_TASKS })),
  ...['directory', 'enumeration', 'manifest'].map((s) => ({ name: `sep-2640-skills-${s}`, revisions: Y26, notApplicable: EXTENSION_SKILLS })),
];

/** One run per applicable scenario and revision, in table order. */
export function applicableRuns(): Array<{ scenario: ServerScenario; revision: Revision }> {
  return SERVER_SCENARIOS.filter((s) => !s.notApplicable).flatMap((scenario) => scenario.revisions.map((revision) => ({ scenario, revision })));
}
