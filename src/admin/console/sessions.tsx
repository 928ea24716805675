import type { FunctionComponent as FC } from 'preact';
import type { SessionView } from '../../control/service.js';
import { relative, utc } from './format.js';
import { Csrf } from './layout.js';
import { Reason, Table, UserCell } from './parts.js';

/** The Sessions page: who is signed in to the gateway, through which agents; revoke one sign-in. */

export const SessionsBody: FC<{ sessions: SessionView[]; now: number; csrf?: string }> = ({ sessions, now, csrf }) => (
  <>
    <h1>Sessions</h1>
    <p class="lead">
      Each row is one sign-in of a user at the IdP through the gateway, with the agents holding grants in it. Revoking signs it out: its refresh tokens stop
      working, its MCP streams close, and the user's cached downstream tokens are dropped.
    </p>
    <section class="card" aria-labelledby="sess-h">
      <h2 id="sess-h">Signed in ({sessions.length})</h2>
      {sessions.length ? (
        <Table head={['User', 'Signed in', 'Last active', 'Agents', 'Revoke']} scroll>
          {sessions.map((s) => {
            const who = s.user.email ?? s.user.sub;
            return (
              <tr data-session={s.id}>
                <td>
                  <UserCell user={s.user} />
                </td>
                <td class="nowrap small" title={utc(s.signedInAt)}>
                  {relative(s.signedInAt, now)}
                </td>
                <td class="nowrap small" title={utc(s.lastActiveAt)}>
                  {relative(s.lastActiveAt, now)}
                </td>
                <td>
                  {s.agents.length ? (
                    <ul class="small" aria-label={`Agents of ${who}`}>
                      {s.agents.map((a) => (
                        <li>
                          <span class="agent-name">{a.clientName ?? a.clientId}</span> <code class="muted">{a.clientId}</code>
                          <div class="muted">
                            scopes {a.scopes.join(' ') || 'none'} · since {relative(a.since, now)} · grant ends {utc(a.expiresAt)}
                          </div>
                        </li>
                      ))}
                    </ul>
                  ) : s.enterpriseManaged ? (
                    <span class="muted small">
                      enterprise-managed sign-in (an ID-JAG from the IdP, no refresh grant) · ends {utc(s.enterpriseManaged.endsAt)}
                    </span>
                  ) : (
                    <span class="muted small">no refresh grant (access token only)</span>
                  )}
                </td>
                <td>
                  <form method="post" action={`/admin/sessions/${encodeURIComponent(s.id)}/revoke`} class="inline row-form">
                    <Csrf token={csrf} />
                    <Reason label={`Reason for revoking the session of ${who}`} />
                    <button class="danger" type="submit" aria-label={`Revoke the session of ${who} signed in ${utc(s.signedInAt)}`}>
                      Revoke
                    </button>
                  </form>
                </td>
              </tr>
            );
          })}
        </Table>
      ) : (
        <p class="muted">No one is signed in.</p>
      )}
    </section>
  </>
);
