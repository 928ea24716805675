import { createRequire } from 'node:module';

/**
 * Audit records as OCSF 1.3.0 events, so a SIEM takes them as they are. Pure: one record in, one
 * event out. Delegated calls and admin actions are API Activity (class 6003, category 6 Application
 * Activity); a user disabled or enabled (kill switch, CAEP/RISC event) is Account Change (class 3001,
 * category 3 Identity & Access Management). Whatever has no OCSF attribute goes to `unmapped` under
 * its audit-record name (ID-JAG jti, token fingerprint, scopes, hash-chain fields), and a record of
 * a type this code does not know is still exported (API Activity, activity Other) rather than dropped.
 * Records are read back from disk and may have been edited: every field is checked before use.
 */

export const OCSF_VERSION = '1.3.0';
const PRODUCT_VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
export const OCSF_PRODUCT = { name: 'xaa-gateway', vendor_name: 'xaa-gateway', version: PRODUCT_VERSION } as const;

export type OcsfEvent = Record<string, unknown> & {
  class_uid: number;
  activity_id: number;
  type_uid: number;
  time: number;
  metadata: Record<string, unknown>;
};

// OCSF enums used here (base event, security_control profile, the two classes).
const SEVERITY = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High' } as const;
type Severity = keyof typeof SEVERITY;
const STATUS = { 0: 'Unknown', 1: 'Success', 2: 'Failure' } as const;
type Status = keyof typeof STATUS;
const API_ACTIVITY: Record<number, string> = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' };
const ACCOUNT_ACTIVITY: Record<number, string> = { 2: 'Enable', 5: 'Disable', 99: 'Other' };

/** Downstream HTTP method -> API Activity activity_id; an upstream MCP `tools/call` is Other. */
const METHOD_ACTIVITY: Record<string, number> = { GET: 2, HEAD: 2, OPTIONS: 2, POST: 1, PUT: 3, PATCH: 3, DELETE: 4 };
/** Verb of an admin action (`tool.update`, `switch.set`...) -> API Activity activity_id. */
const VERB_ACTIVITY: Record<string, number> = {
  create: 1,
  add: 1,
  set: 1,
  get: 2,
  list: 2,
  read: 2,
  update: 3,
  edit: 3,
  patch: 3,
  replace: 3,
  delete: 4,
  remove: 4,
  lift: 4,
  revoke: 4,
  purge: 4,
};

type Rec = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Rec | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined);
/** Drops undefined members (and objects left empty), so the JSON has only what is known. */
function compact<T extends Rec>(o: T): T {
  const out: Rec = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (obj(v) && Object.keys(v as Rec).length === 0) continue;
    out[k] = v;
  }
  return out as T;
}

export interface OcsfOptions {
  /** Set when the record failed the hash-chain check: exported, but flagged in `unmapped.chain_error`. */
  chainError?: string;
  /**
   * The downstream operation of the call, from its decision record: outcome records do not repeat
   * it, and the export correlates them by trace id.
   */
  downstream?: { method: string; url: string };
}

/** Maps any audit record; never throws on a well-formed JSON object (a record without a usable time gets 0). */
export function toOcsf(record: Rec, opts: OcsfOptions = {}): OcsfEvent {
  const type = str(record.type);
  if (type === 'tool_call') return toolCall(record, opts);
  if (type === 'admin_action') return adminAction(record, opts);
  if (type === 'security_event') return securityEvent(record, opts);
  return other(record, opts);
}

// ---------------------------------------------------------------------------------------------
// Shared parts

interface Classification {
  classUid: number;
  className: string;
  categoryUid: number;
  categoryName: string;
  activityId: number;
  activityName: string;
}
const apiActivity = (activityId: number): Classification => ({
  classUid: 6003,
  className: 'API Activity',
  categoryUid: 6,
  categoryName: 'Application Activity',
  activityId,
  activityName: API_ACTIVITY[activityId] ?? 'Other',
});
const accountChange = (activityId: number, activityName = ACCOUNT_ACTIVITY[activityId] ?? 'Other'): Classification => ({
  classUid: 3001,
  className: 'Account Change',
  categoryUid: 3,
  categoryName: 'Identity & Access Management',
  activityId,
  activityName,
});

function envelope(record: Rec, c: Classification, severity: Severity, status: Status, profiles: string[] = []): OcsfEvent {
  const time = Date.parse(str(record.time) ?? '');
  return {
    activity_id: c.activityId,
    activity_name: c.activityName,
    category_uid: c.categoryUid,
    category_name: c.categoryName,
    class_uid: c.classUid,
    class_name: c.className,
    type_uid: c.classUid * 100 + c.activityId,
    type_name: `${c.className}: ${c.activityName}`,
    severity_id: severity,
    severity: SEVERITY[severity],
    status_id: status,
    status: STATUS[status],
    time: Number.isFinite(time) ? time : 0,
    metadata: compact({
      version: OCSF_VERSION,
      product: { ...OCSF_PRODUCT },
      uid: str(record.id),
      correlation_uid: str(record.traceId),
      original_time: str(record.time),
      sequence: num(record.seq),
      profiles: profiles.length ? profiles : undefined,
    }),
  };
}

/** The audit `user` ({iss, sub, email}) as an OCSF User; the issuer goes to the actor's `idp`. */
function ocsfUser(user: Rec | undefined): Rec | undefined {
  if (!user) return undefined;
  const email = str(user.email);
  // The IdP's username is usually the email; `name` holds it when the record has no other name.
  return compact({ uid: str(user.sub), email_addr: email, name: str(user.name) ?? email, type_id: 1, type: 'User' });
}

function idpOf(iss: string | undefined): Rec | undefined {
  return iss ? { uid: iss, name: iss } : undefined;
}

/** The gateway's outcome record -> status fields; `reason` (decisions) is the status detail. */
function outcomeStatus(record: Rec): { status: Status; code?: string; detail?: string } {
  const outcome = obj(record.outcome);
  if (!outcome || typeof outcome.ok !== 'boolean') return { status: 0, ...(str(record.reason) ? { detail: str(record.reason) } : {}) };
  const httpStatus = num(outcome.status);
  const error = str(outcome.error);
  const code = error ?? (httpStatus !== undefined ? String(httpStatus) : undefined);
  const detail = str(record.reason) ?? error;
  return { status: outcome.ok ? 1 : 2, ...(code ? { code } : {}), ...(detail ? { detail } : {}) };
}

function urlParts(url: string | undefined): { endpoint?: Rec; url?: Rec } {
  if (!url || !URL.canParse(url)) return {};
  const u = new URL(url);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : undefined;
  return {
    endpoint: compact({ hostname: u.hostname, port }),
    url: compact({ url_string: url, scheme: u.protocol.replace(/:$/, ''), hostname: u.hostname, port, path: u.pathname }),
  };
}

/** Everything of the record that no OCSF attribute took, under its own name. */
function unmapped(record: Rec, consumed: readonly string[], extra: Rec, opts: OcsfOptions): Rec | undefined {
  const out: Rec = {};
  for (const [k, v] of Object.entries(record)) if (!consumed.includes(k)) out[k] = v;
  Object.assign(out, extra);
  if (opts.chainError) out.chain_error = opts.chainError;
  const c = compact(out);
  return Object.keys(c).length ? c : undefined;
}

const CHAIN_AND_TIME = ['id', 'traceId', 'time', 'seq'] as const;

// ---------------------------------------------------------------------------------------------
// Delegated tool calls: API Activity, one event per decision and per outcome record

function toolCall(record: Rec, opts: OcsfOptions): OcsfEvent {
  const downstream = obj(record.downstream) ?? opts.downstream;
  const method = str(downstream?.method);
  const url = str(downstream?.url);
  const activityId = method ? (METHOD_ACTIVITY[method.toUpperCase()] ?? 99) : 99;
  const decision = record.phase === 'decision' ? str(record.decision) : undefined;
  const { status, code, detail } = outcomeStatus(record);
  const outcome = obj(record.outcome);
  const httpStatus = num(outcome?.status);

  // A decision is the gateway's access control: allow -> Success, deny -> Failure (security_control profile).
  let severity: Severity = 1;
  let statusId: Status = status;
  let control: Rec = {};
  if (decision === 'allow') {
    statusId = 1;
    control = { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
  } else if (decision === 'deny') {
    statusId = 2;
    severity = 3;
    control = { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };
  } else if (status === 2) {
    severity = 2;
  }

  const user = obj(record.user);
  const agent = obj(record.agent);
  const tool = str(record.tool);
  const parts = urlParts(url);
  const isHttp = method !== undefined && METHOD_ACTIVITY[method.toUpperCase()] !== undefined;
  const reason = str(record.reason);
  const who = str(user?.email) ?? str(user?.sub) ?? 'unknown user';
  const via = str(agent?.name) ?? str(agent?.clientId) ?? 'unknown agent';
  const message =
    decision === 'deny'
      ? `${tool ?? 'tool call'} denied for ${who} via ${via}${reason ? `: ${reason}` : ''}`
      : decision === 'allow'
        ? `${tool ?? 'tool call'} allowed for ${who} via ${via}`
        : `${tool ?? 'tool call'} for ${who} via ${via}: ${method ?? ''} ${url ?? ''} -> ${code ?? STATUS[status]}`.replace(/\s+/g, ' ');

  const event = envelope(record, apiActivity(activityId), severity, statusId, decision ? ['security_control'] : []);
  Object.assign(
    event,
    compact({
      ...control,
      status_code: code,
      status_detail: detail,
      message,
      duration: num(record.latencyMs),
      actor: compact({
        user: ocsfUser(user),
        app_name: str(agent?.name) ?? str(agent?.clientId),
        app_uid: str(agent?.clientId),
        idp: idpOf(str(user?.iss)),
        authorizations: decision
          ? [compact({ decision: decision === 'allow' ? 'Allow' : 'Deny', policy: compact({ name: 'xaa-gateway policy', desc: reason }) })]
          : undefined,
      }),
      api: compact({
        operation: tool ?? 'tools/call',
        service: compact({ name: str(record.resource) }),
        request: compact({ uid: str(record.traceId) }),
        response: outcome && record.phase === 'outcome' ? compact({ code: httpStatus, error: str(outcome.error) }) : undefined,
      }),
      src_endpoint: agent ? compact({ uid: str(agent.clientId), name: str(agent.name) }) : undefined,
      dst_endpoint: parts.endpoint,
      http_request: parts.url ? compact({ http_method: isHttp ? method!.toUpperCase() : undefined, url: parts.url }) : undefined,
      http_response: httpStatus !== undefined ? { code: httpStatus } : undefined,
      unmapped: unmapped(
        record,
        [...CHAIN_AND_TIME, 'type', 'user', 'agent', 'tool', 'resource', 'downstream', 'decision', 'reason', 'outcome', 'latencyMs'],
        {
          ...(str(agent?.version) ? { agent_version: agent!.version } : {}),
          ...(method && !isHttp ? { downstream_method: method } : {}),
          ...(decision ? { decision } : {}),
        },
        opts,
      ),
    }),
  );
  return event;
}

// ---------------------------------------------------------------------------------------------
// Admin actions: API Activity on the gateway's admin API, or Account Change for a user switch

function adminActor(actor: Rec | undefined): Rec {
  if (actor?.kind === 'security_event') {
    return compact({ app_name: 'Shared Signals receiver', idp: idpOf(str(actor.iss)) });
  }
  if (actor?.kind === 'scim') return compact({ app_name: `SCIM receiver (${str(actor.client) ?? '?'})` });
  const email = str(actor?.email);
  const user = str(actor?.sub) ? compact({ uid: str(actor?.sub), email_addr: email, name: email, type_id: 2, type: 'Admin' }) : undefined;
  return compact({
    user,
    idp: idpOf(str(actor?.iss)),
    app_name: actor?.via === 'token' ? 'xaa-gateway admin API (automation token)' : 'xaa-gateway admin',
  });
}

function adminAction(record: Rec, opts: OcsfOptions): OcsfEvent {
  const action = str(record.action) ?? 'admin_action';
  const [noun, verb] = action.includes('.') ? [action.slice(0, action.lastIndexOf('.')), action.slice(action.lastIndexOf('.') + 1)] : [action, ''];
  const target = obj(record.target);
  const sw = obj(target?.switch);
  const switchUser = sw?.kind === 'user' ? obj(sw.user) : undefined;
  const { status, code, detail } = record.outcome === undefined ? { status: 1 as Status, code: undefined, detail: str(record.reason) } : outcomeStatus(record);
  const actor = adminActor(obj(record.actor));
  const consumed = [...CHAIN_AND_TIME, 'type', 'action', 'reason', 'outcome'];

  // Disabling or enabling one user is an account change (OCSF 3001), whoever asked for it.
  if (switchUser && (verb === 'set' || verb === 'lift')) {
    const activityId = verb === 'set' ? 5 : 2;
    const event = envelope(record, accountChange(activityId), verb === 'set' ? 3 : 1, status);
    Object.assign(
      event,
      compact({
        status_code: code,
        status_detail: detail,
        message: `user ${str(switchUser.sub) ?? '?'} ${verb === 'set' ? 'disabled' : 'enabled'} at the gateway${detail ? `: ${detail}` : ''}`,
        user: compact({ uid: str(switchUser.sub), type_id: 1, type: 'User' }),
        actor,
        unmapped: unmapped(record, consumed, { action }, opts),
      }),
    );
    return event;
  }

  const activityId = VERB_ACTIVITY[verb] ?? 99;
  const label = str(target?.label);
  const event = envelope(record, apiActivity(activityId), noun === 'switch' && verb === 'set' ? 3 : 1, status);
  Object.assign(
    event,
    compact({
      status_code: code,
      status_detail: detail,
      message: `admin ${action}${label ? ` ${label}` : ''}${detail ? `: ${detail}` : ''}`,
      actor,
      api: compact({ operation: action, service: { name: 'xaa-gateway admin' }, request: compact({ uid: str(record.traceId) }) }),
      resources: [compact({ type: noun, name: label ?? str(target?.name), uid: str(target?.sessionId) ?? str(target?.id) })],
      unmapped: unmapped(record, [...consumed], {}, opts),
    }),
  );
  return event;
}

// ---------------------------------------------------------------------------------------------
// Security events from the IdP (Shared Signals: CAEP / RISC): Account Change of the user they name

const EFFECT_ACTIVITY: Record<string, [number, string]> = {
  disable_user: [5, 'Disable'],
  enable_user: [2, 'Enable'],
  revoke_user: [99, 'Revoke Sessions'],
};

function securityEvent(record: Rec, opts: OcsfOptions): OcsfEvent {
  const se = obj(record.securityEvent) ?? {};
  const effect = str(se.effect) ?? 'unknown';
  const [activityId, activityName] = EFFECT_ACTIVITY[effect] ?? [99, 'Other'];
  const { status, code, detail } = outcomeStatus(record);
  const subject = obj(se.subject);
  const user = ocsfUser(obj(record.user)) ?? compact({ uid: str(subject?.sub) ?? str(subject?.id), email_addr: str(subject?.email) });
  const event = envelope(record, accountChange(activityId, activityName), effect === 'disable_user' ? 3 : status === 2 ? 2 : 1, status);
  Object.assign(
    event,
    compact({
      status_code: code,
      status_detail: detail,
      message: detail ?? `security event ${str(se.eventType) ?? ''}`.trim(),
      user,
      actor: compact({ app_name: 'Shared Signals receiver', idp: idpOf(str(se.iss)) }),
      unmapped: unmapped(record, [...CHAIN_AND_TIME, 'type', 'user', 'reason', 'outcome'], {}, opts),
    }),
  );
  (event.metadata as Rec).event_code = str(se.eventType);
  event.metadata = compact(event.metadata);
  return event;
}

// ---------------------------------------------------------------------------------------------
// Anything else (the log's own recovery records, types added later): exported, not lost

function other(record: Rec, opts: OcsfOptions): OcsfEvent {
  const { status, code, detail } = outcomeStatus(record);
  const user = obj(record.user);
  const agent = obj(record.agent);
  const operation = str(record.action) ?? str(record.type) ?? 'unknown';
  const event = envelope(record, apiActivity(99), status === 2 ? 2 : 1, status);
  Object.assign(
    event,
    compact({
      status_code: code,
      status_detail: detail,
      message: `${operation} record`,
      actor: compact({ user: ocsfUser(user), idp: idpOf(str(user?.iss)), app_name: str(agent?.name) ?? str(agent?.clientId) ?? 'xaa-gateway' }),
      api: compact({ operation, request: compact({ uid: str(record.traceId) }) }),
      unmapped: unmapped(record, [...CHAIN_AND_TIME, 'user', 'reason', 'outcome'], {}, opts),
    }),
  );
  return event;
}
