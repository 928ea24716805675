import type { FunctionComponent as FC } from 'preact';
import { describeSwitch, switchKey, switchTarget } from '../../control/switches.js';
import type { KillSwitch, SwitchState } from '../../domain/control.js';
import type { KnownAgent, KnownUser } from './directory.js';
import { actorLabel, relative, utc } from './format.js';
import { Csrf } from './layout.js';
import { Reason, Table, UserCell } from './parts.js';

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

/** A form of this page: posts to /admin/switches and comes back to the section `back`. */
const SwitchForm: FC<{ csrf?: string; back: string; id?: string; class?: string }> = ({ csrf, back, id, class: cls, children }) => (
  <form id={id} method="post" action="/admin/switches" class={cls}>
    <Csrf token={csrf} />
    <input type="hidden" name="back" value={`/admin/switches#${back}`} />
    {children}
  </form>
);

/** A submit button with `do` = "<op> <target>": setting a switch is red, lifting it green. */
const DoButton: FC<{ op: 'set' | 'lift'; target: string; form?: string; label?: string }> = ({ op, target, form, label, children }) => (
  <button form={form} class={op === 'lift' ? 'safe' : 'danger'} type="submit" name="do" value={`${op} ${target}`} aria-label={label}>
    {children}
  </button>
);

/** Lifts the switch on `target` when it is set, sets it when not; `what` names it for screen readers. */
const Toggle: FC<{ set: boolean; target: string; what?: string; enable?: string; disable?: string }> = ({
  set,
  target,
  what,
  enable = 'Enable',
  disable = 'Disable',
}) =>
  set ? (
    <DoButton op="lift" target={target} label={what && `Enable ${what}`}>
      {enable}
    </DoButton>
  ) : (
    <DoButton op="set" target={target} label={what && `Disable ${what}`}>
      {disable}
    </DoButton>
  );

export const SwitchesBody: FC<{ v: SwitchesView }> = ({ v }) => {
  const byKey = new Map(v.switches.map((s) => [switchKey(s.switch), s] as const));
  const get = (s: KillSwitch) => byKey.get(switchKey(s));
  const all = get({ kind: 'all' });
  return (
    <>
      <h1>Kill switches</h1>
      <p class="lead">
        A switch refuses the matching tool calls from the next call on, drops cached downstream tokens it covers and, for users and agents, signs their sessions
        out. Every change is audited.
      </p>

      <section class={`card${all ? ' readonly-on' : ''}`} id="readonly" aria-labelledby="ro-h">
        <h2 id="ro-h">Global read-only switch {all ? <span class="badge off">ON: every tool call is refused</span> : <span class="badge on">off</span>}</h2>
        {all ? (
          <p>
            Set <Since s={all} now={v.now} />: <em>{all.reason}</em>
          </p>
        ) : (
          <p class="muted">Stops every tool call of every user and agent at once. Admin actions keep working.</p>
        )}
        <SwitchForm csrf={v.csrf} back="readonly" class="inline row-form">
          <Reason label="Reason for the read-only switch" />
          <Toggle set={!!all} target="all" enable="Turn read-only mode off" disable="Turn read-only mode on" />
        </SwitchForm>
      </section>

      <section class="card" id="current" aria-labelledby="cur-h">
        <h2 id="cur-h">Switches in force ({v.switches.length})</h2>
        {v.switches.length ? (
          <Table head={['Kind', 'Target', 'Reason', 'Set', 'Lift']} scroll>
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
                  <SwitchForm csrf={v.csrf} back="current" class="inline row-form">
                    <input type="hidden" name="key" value={switchKey(s.switch)} />
                    <Reason label={`Reason for lifting ${describeSwitch(s.switch)}`} />
                    <DoButton op="lift" target="key" label={`Lift ${describeSwitch(s.switch)}`}>
                      Lift
                    </DoButton>
                  </SwitchForm>
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">No switch is set: every call the config and the IdP allow goes through.</p>
        )}
      </section>

      <section class="card" id="resources" aria-labelledby="res-h">
        <h2 id="res-h">Resources</h2>
        <Table head={['Name', 'Endpoint', 'Config', 'Kill switch', 'Change']}>
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
                  <SwitchForm csrf={v.csrf} back="resources" class="inline row-form">
                    <Reason label={`Reason for resource ${t.name}`} />
                    <Toggle set={!!s} target={`resource ${t.name}`} what={`resource ${t.name}`} />
                  </SwitchForm>
                </td>
              </tr>
            );
          })}
        </Table>
      </section>

      <section class="card" id="connections" aria-labelledby="conn-h">
        <h2 id="conn-h">Agents and their connections</h2>
        <p class="muted small">
          A connection is one agent's access to one resource. Green: allowed; red: its kill switch is set. Agents are those registered in the config, signed in,
          or seen in the audit log recently.
        </p>
        {v.agents.length ? (
          <Table head={['Agent', 'Agent switch', 'Connections (click to toggle)', 'Reason']} scroll>
            {v.agents.map((a, i) => {
              const form = `agent-${i}`;
              const agentSwitch = get({ kind: 'agent', clientId: a.clientId });
              return (
                <tr data-agent={a.clientId}>
                  <td>
                    <SwitchForm csrf={v.csrf} back="connections" id={form}>
                      <input type="hidden" name="clientId" value={a.clientId} />
                    </SwitchForm>
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
                          <DoButton op="lift" target="agent" form={form} label={`Enable agent ${a.clientId}`}>
                            Enable agent
                          </DoButton>
                        </div>
                      </>
                    ) : (
                      <DoButton op="set" target="agent" form={form} label={`Disable agent ${a.clientId}`}>
                        Disable agent
                      </DoButton>
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
          </Table>
        ) : (
          <p class="muted">No agent known yet.</p>
        )}
        <h3>Another agent</h3>
        <SwitchForm csrf={v.csrf} back="connections" class="inline other">
          <label for="other-agent">Client ID</label>
          <input id="other-agent" type="text" name="clientId" required />
          <label for="other-resource">Resource</label>
          <select id="other-resource" name="resource">
            {v.targets.map((t) => (
              <option value={t.name}>{t.name}</option>
            ))}
          </select>
          <Reason label="Reason for the other agent" />
          <DoButton op="set" target="connection">
            Disable connection
          </DoButton>
          <DoButton op="set" target="agent">
            Disable agent
          </DoButton>
        </SwitchForm>
      </section>

      <section class="card" id="users" aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        {v.users.length ? (
          <Table head={['User', 'Sessions', 'Kill switch', 'Change']}>
            {v.users.map((u) => {
              const s = get({ kind: 'user', user: { iss: u.iss, sub: u.sub } });
              const who = u.email ?? u.sub;
              return (
                <tr data-user={u.sub}>
                  <td>
                    <UserCell user={u} />
                  </td>
                  <td>{u.sessions}</td>
                  <td class="small">
                    <SwitchCell s={s} now={v.now} />
                  </td>
                  <td>
                    <SwitchForm csrf={v.csrf} back="users" class="inline row-form">
                      <input type="hidden" name="iss" value={u.iss} />
                      <input type="hidden" name="sub" value={u.sub} />
                      <Reason label={`Reason for user ${who}`} />
                      <Toggle set={!!s} target="user" what={`user ${who}`} />
                    </SwitchForm>
                  </td>
                </tr>
              );
            })}
          </Table>
        ) : (
          <p class="muted">No user known yet.</p>
        )}
        <h3>Another user</h3>
        <SwitchForm csrf={v.csrf} back="users" class="inline other">
          <input type="hidden" name="iss" value={v.idpIssuer} />
          <label for="other-sub">IdP subject (sub)</label>
          <input id="other-sub" type="text" name="sub" required />
          <Reason label="Reason for the other user" />
          <DoButton op="set" target="user">
            Disable user
          </DoButton>
        </SwitchForm>
      </section>
    </>
  );
};
