import type { FC } from 'hono/jsx';
import { describeSwitch, switchKey, switchTarget } from '../../control/switches.js';
import type { KillSwitch, SwitchState } from '../../control/types.js';
import type { KnownAgent, KnownUser } from './directory.js';
import { actorLabel, relative, utc } from './format.js';
import { Csrf } from './layout.js';

/**
 * The Switches page. Every form posts to /admin/switches with `do` = "set <kind> [name]",
 * "lift <kind> [name]" or "lift key" (with `key` = the switch key), the identity fields the kind
 * needs (clientId, sub, iss), a reason, and `back` (where to return). A row of the agents table
 * is one form (through the `form` attribute), so its one reason field serves all its buttons.
 */

export interface TargetRow {
  name: string;
  kind: 'resource' | 'upstream';
  endpoint: string;
  enabled: boolean;
}

export interface SwitchesView {
  now: number;
  csrf?: string;
  switches: SwitchState[];
  targets: TargetRow[];
  agents: KnownAgent[];
  users: KnownUser[];
  idpIssuer: string;
}

const KIND_LABEL: Record<KillSwitch['kind'], string> = { all: 'Read-only', user: 'User', agent: 'Agent', resource: 'Resource', connection: 'Connection' };

const Since: FC<{ s: SwitchState; now: number }> = ({ s, now }) => (
  <span title={utc(s.since)}>
    {relative(s.since, now)} by {actorLabel(s.actor)}
  </span>
);

/** A switch's state in a table cell: "not set", or set, when, by whom and why. */
const SwitchCell: FC<{ s?: SwitchState; now: number }> = ({ s, now }) =>
  s ? (
    <>
      <span class="badge off">set</span> <Since s={s} now={now} />: <em>{s.reason}</em>
    </>
  ) : (
    <span class="badge">not set</span>
  );

const Reason: FC<{ label: string; form?: string; id?: string }> = ({ label, form, id }) => (
  <input type="text" class="reason" name="reason" placeholder="Reason" aria-label={label} maxlength={1000} form={form} id={id} />
);

export const SwitchesBody: FC<{ v: SwitchesView }> = ({ v }) => {
  const byKey = new Map(v.switches.map((s) => [switchKey(s.switch), s] as const));
  const get = (s: KillSwitch) => byKey.get(switchKey(s));
  const all = get({ kind: 'all' });
  return (
    <>
      <h1>Kill switches</h1>
      <p class="lead">A switch refuses the matching tool calls from the next call on, drops cached downstream tokens it covers and, for users and agents, signs their sessions out. Every change is audited.</p>

      <section class={`card${all ? ' readonly-on' : ''}`} id="readonly" aria-labelledby="ro-h">
        <h2 id="ro-h">
          Global read-only switch {all ? <span class="badge off">ON: every tool call is refused</span> : <span class="badge on">off</span>}
        </h2>
        {all ? (
          <p>
            Set <Since s={all} now={v.now} />: <em>{all.reason}</em>
          </p>
        ) : (
          <p class="muted">Stops every tool call of every user and agent at once. Admin actions keep working.</p>
        )}
        <form method="post" action="/admin/switches" class="inline row-form">
          <Csrf token={v.csrf} />
          <input type="hidden" name="back" value="/admin/switches#readonly" />
          <Reason label="Reason for the read-only switch" />
          {all ? (
            <button class="safe" type="submit" name="do" value="lift all">
              Turn read-only mode off
            </button>
          ) : (
            <button class="danger" type="submit" name="do" value="set all">
              Turn read-only mode on
            </button>
          )}
        </form>
      </section>

      <section class="card" id="current" aria-labelledby="cur-h">
        <h2 id="cur-h">Switches in force ({v.switches.length})</h2>
        {v.switches.length ? (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Target</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Set</th>
                  <th scope="col">Lift</th>
                </tr>
              </thead>
              <tbody>
                {v.switches.map((s) => (
                  <tr data-switch={describeSwitch(s.switch)}>
                    <td>
                      <span class="badge off">{KIND_LABEL[s.switch.kind]}</span>
                    </td>
                    <td class="wrap">
                      <code>{switchTarget(s.switch)}</code>
                    </td>
                    <td class="wrap">{s.reason}</td>
                    <td class="small">
                      <Since s={s} now={v.now} />
                    </td>
                    <td>
                      <form method="post" action="/admin/switches" class="inline row-form">
                        <Csrf token={v.csrf} />
                        <input type="hidden" name="back" value="/admin/switches#current" />
                        <input type="hidden" name="key" value={switchKey(s.switch)} />
                        <Reason label={`Reason for lifting ${describeSwitch(s.switch)}`} />
                        <button class="safe" type="submit" name="do" value="lift key" aria-label={`Lift ${describeSwitch(s.switch)}`}>
                          Lift
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">No switch is set: every call the config and the IdP allow goes through.</p>
        )}
      </section>

      <section class="card" id="resources" aria-labelledby="res-h">
        <h2 id="res-h">Resources</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Endpoint</th>
              <th scope="col">Config</th>
              <th scope="col">Kill switch</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {v.targets.map((t) => {
              const s = get({ kind: 'resource', name: t.name });
              return (
                <tr data-resource={t.name}>
                  <td>
                    {t.name}
                    {t.kind === 'upstream' ? <div class="muted small">upstream MCP server</div> : null}
                  </td>
                  <td class="wrap">
                    <code>{t.endpoint}</code>
                  </td>
                  <td>
                    <span class={`badge ${t.enabled ? 'on' : 'off'}`}>{t.enabled ? 'enabled' : 'disabled'}</span>
                  </td>
                  <td class="small">
                    <SwitchCell s={s} now={v.now} />
                  </td>
                  <td>
                    <form method="post" action="/admin/switches" class="inline row-form">
                      <Csrf token={v.csrf} />
                      <input type="hidden" name="back" value="/admin/switches#resources" />
                      <Reason label={`Reason for resource ${t.name}`} />
                      {s ? (
                        <button class="safe" type="submit" name="do" value={`lift resource ${t.name}`} aria-label={`Enable resource ${t.name}`}>
                          Enable
                        </button>
                      ) : (
                        <button class="danger" type="submit" name="do" value={`set resource ${t.name}`} aria-label={`Disable resource ${t.name}`}>
                          Disable
                        </button>
                      )}
                    </form>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>

      <section class="card" id="connections" aria-labelledby="conn-h">
        <h2 id="conn-h">Agents and their connections</h2>
        <p class="muted small">
          A connection is one agent's access to one resource. Green: allowed; red: its kill switch is set. Agents are those registered in the config, signed in, or seen in the audit log recently.
        </p>
        {v.agents.length ? (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Agent</th>
                  <th scope="col">Agent switch</th>
                  <th scope="col">Connections (click to toggle)</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                {v.agents.map((a, i) => {
                  const form = `agent-${i}`;
                  const agentSwitch = get({ kind: 'agent', clientId: a.clientId });
                  return (
                    <tr data-agent={a.clientId}>
                      <td>
                        <form id={form} method="post" action="/admin/switches">
                          <Csrf token={v.csrf} />
                          <input type="hidden" name="back" value="/admin/switches#connections" />
                          <input type="hidden" name="clientId" value={a.clientId} />
                        </form>
                        <div class="agent-name">{a.name ?? a.clientId}</div>
                        <div class="muted small wrap">
                          <code>{a.clientId}</code>
                          {a.lastSeen ? <> · last call {relative(Date.parse(a.lastSeen), v.now)}</> : null}
                        </div>
                      </td>
                      <td class="small">
                        {agentSwitch ? (
                          <>
                            <span class="badge off">set</span> <em>{agentSwitch.reason}</em>
                            <div class="actions">
                              <button form={form} class="safe" type="submit" name="do" value="lift agent" aria-label={`Enable agent ${a.clientId}`}>
                                Enable agent
                              </button>
                            </div>
                          </>
                        ) : (
                          <button form={form} class="danger" type="submit" name="do" value="set agent" aria-label={`Disable agent ${a.clientId}`}>
                            Disable agent
                          </button>
                        )}
                      </td>
                      <td>
                        <div class="inline" role="group" aria-label={`Connections of ${a.clientId}`}>
                          {v.targets.map((t) => {
                            const s = get({ kind: 'connection', clientId: a.clientId, resource: t.name });
                            return (
                              <>
                                <button
                                  form={form}
                                  type="submit"
                                  name="do"
                                  value={`${s ? 'lift' : 'set'} connection ${t.name}`}
                                  class={`conn ${s ? 'off' : 'on'}`}
                                  aria-label={`${s ? 'Enable' : 'Disable'} connection ${a.clientId} → ${t.name}`}
                                  title={s ? `Off since ${utc(s.since)} by ${actorLabel(s.actor)}: ${s.reason}` : `On: click to disable ${a.clientId} → ${t.name}`}
                                >
                                  {t.name}
                                </button>{' '}
                              </>
                            );
                          })}
                        </div>
                      </td>
                      <td>
                        <Reason label={`Reason for ${a.clientId}`} form={form} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">No agent known yet.</p>
        )}
        <h3>Another agent</h3>
        <form method="post" action="/admin/switches" class="inline other">
          <Csrf token={v.csrf} />
          <input type="hidden" name="back" value="/admin/switches#connections" />
          <label for="other-agent">Client ID</label>
          <input id="other-agent" type="text" name="clientId" required />
          <label for="other-resource">Resource</label>
          <select id="other-resource" name="resource">
            {v.targets.map((t) => (
              <option value={t.name}>{t.name}</option>
            ))}
          </select>
          <Reason label="Reason for the other agent" />
          <button class="danger" type="submit" name="do" value="set connection">
            Disable connection
          </button>
          <button class="danger" type="submit" name="do" value="set agent">
            Disable agent
          </button>
        </form>
      </section>

      <section class="card" id="users" aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        {v.users.length ? (
          <table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Sessions</th>
                <th scope="col">Kill switch</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {v.users.map((u) => {
                const s = get({ kind: 'user', user: { iss: u.iss, sub: u.sub } });
                const who = u.email ?? u.sub;
                return (
                  <tr data-user={u.sub}>
                    <td>
                      {u.name ? <div class="agent-name">{u.name}</div> : null}
                      <div class="small">
                        {u.email ?? ''} <code class="muted">{u.sub}</code>
                      </div>
                    </td>
                    <td>{u.sessions}</td>
                    <td class="small">
                      <SwitchCell s={s} now={v.now} />
                    </td>
                    <td>
                      <form method="post" action="/admin/switches" class="inline row-form">
                        <Csrf token={v.csrf} />
                        <input type="hidden" name="back" value="/admin/switches#users" />
                        <input type="hidden" name="iss" value={u.iss} />
                        <input type="hidden" name="sub" value={u.sub} />
                        <Reason label={`Reason for user ${who}`} />
                        {s ? (
                          <button class="safe" type="submit" name="do" value="lift user" aria-label={`Enable user ${who}`}>
                            Enable
                          </button>
                        ) : (
                          <button class="danger" type="submit" name="do" value="set user" aria-label={`Disable user ${who}`}>
                            Disable
                          </button>
                        )}
                      </form>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : (
          <p class="muted">No user known yet.</p>
        )}
        <h3>Another user</h3>
        <form method="post" action="/admin/switches" class="inline other">
          <Csrf token={v.csrf} />
          <input type="hidden" name="back" value="/admin/switches#users" />
          <input type="hidden" name="iss" value={v.idpIssuer} />
          <label for="other-sub">IdP subject (sub)</label>
          <input id="other-sub" type="text" name="sub" required />
          <Reason label="Reason for the other user" />
          <button class="danger" type="submit" name="do" value="set user">
            Disable user
          </button>
        </form>
      </section>
    </>
  );
};
