import type { ComponentChildren as Child, FunctionComponent as FC } from 'preact';
import type { ConfigIssue } from '../config-editor.js';
import { Csrf } from './layout.js';
import { Table } from './parts.js';

/** The Tools page: what the config declares (tools, resources, upstreams) and the edit form of one tool. */

type Item = Record<string, unknown>;

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const enabledOf = (i: Item) => i.enabled !== false;

export const Enabled: FC<{ on: boolean; onText?: string; offText?: string }> = ({ on, onText = 'enabled', offText = 'disabled' }) => (
  <span class={`badge ${on ? 'on' : 'off'}`}>{on ? onText : offText}</span>
);

const Scopes: FC<{ scopes: string[] }> = ({ scopes }) =>
  scopes.length ? (
    <span>
      {scopes.map((s, i) => (
        <>
          {i ? ' ' : ''}
          <code>{s}</code>
        </>
      ))}
    </span>
  ) : (
    <span class="muted">none</span>
  );

/** A long URL that wraps after a slash rather than mid-word. */
const Url: FC<{ url: string }> = ({ url }) => (
  <code>
    {url.split(/(?<=\/)/).map((part, i) => (
      <>
        {i ? <wbr /> : null}
        {part}
      </>
    ))}
  </code>
);

/** A resource's or upstream's state: enabled in the config, and whether a kill switch is set on it. */
const TargetState: FC<{ item: Item; switchedOff: Set<string> }> = ({ item, switchedOff }) => (
  <td>
    <Enabled on={enabledOf(item)} />
    {switchedOff.has(str(item.name)) ? (
      <>
        {' '}
        <a class="badge off" href="/admin/switches#resources">
          kill switch
        </a>
      </>
    ) : null}
  </td>
);

export interface ToolsView {
  tools: Item[];
  resources: Item[];
  upstreams: Item[];
  /** Names of resources/upstreams with a kill switch set. */
  switchedOff: Set<string>;
  path: string;
  /** The file on disk differs from the config in force (a hand edit not yet applied, or invalid). */
  pendingOnDisk: boolean;
  /** Fleet mode: tools, resources and upstreams are kept in the shared store (where, and the revision shown and the one in force here). */
  fleet?: { where: string; revision: number; revisionInForce: number };
}

export const ToolsBody: FC<{ v: ToolsView }> = ({ v }) => (
  <>
    <h1>Tools</h1>
    {v.fleet ? (
      <p class="lead">
        What agents can call, and the resource and scopes each call is delegated with. Shared by every gateway instance: kept in the store ({v.fleet.where}),{' '}
        <span data-config-revision={String(v.fleet.revision)}>revision {v.fleet.revision}</span>; edits apply to the next call on every instance.
      </p>
    ) : (
      <p class="lead">
        What agents can call, and the resource and scopes each call is delegated with. Edits are written to <code>{v.path}</code> and apply to the next call.
      </p>
    )}
    {v.fleet && v.fleet.revisionInForce !== v.fleet.revision ? (
      <div class="flash warn" role="status">
        This instance has revision {v.fleet.revisionInForce} in force, not the store's revision {v.fleet.revision} (it follows within a second; if not, see its
        log).
      </div>
    ) : null}
    {!v.fleet && v.pendingOnDisk ? (
      <div class="flash warn" role="status">
        The file on disk differs from the configuration in force (a hand edit not applied yet, or invalid: see the gateway log). The tables show the file.
      </div>
    ) : null}
    <section class="card" aria-labelledby="tools-h">
      <h2 id="tools-h">Tools ({v.tools.length})</h2>
      <Table head={['Name', 'Resource', 'Scopes', 'Method + URL', 'State', <span class="sr-only">Actions</span>]} scroll>
        {v.tools.map((t) => {
          const name = str(t.name);
          const http = (t.http ?? {}) as Item;
          return (
            <tr data-tool={name}>
              <td>
                <a href={`/admin/tools/${encodeURIComponent(name)}`}>
                  <code>{name}</code>
                </a>
                {t.title ? <div class="muted small">{str(t.title)}</div> : null}
              </td>
              <td class="nowrap">{str(t.resource)}</td>
              <td class="scopes">
                <Scopes scopes={list(t.scopes)} />
              </td>
              <td class="wrap">
                <span class="badge info">{str(http.method)}</span> <Url url={str(http.url)} />
              </td>
              <td>
                <Enabled on={enabledOf(t)} />
              </td>
              <td>
                <a class="button" href={`/admin/tools/${encodeURIComponent(name)}`} aria-label={`Edit ${name}`}>
                  Edit
                </a>
              </td>
            </tr>
          );
        })}
      </Table>
    </section>
    <div class="grid2">
      <section class="card" aria-labelledby="res-h">
        <h2 id="res-h">Resources ({v.resources.length})</h2>
        <Table head={['Name', 'Resource URI', 'State']}>
          {v.resources.map((r) => (
            <tr data-resource={str(r.name)}>
              <td>{str(r.name)}</td>
              <td class="wrap">
                <code>{str(r.resource)}</code>
                <div class="muted small">AS {str(r.authorizationServer)}</div>
              </td>
              <TargetState item={r} switchedOff={v.switchedOff} />
            </tr>
          ))}
        </Table>
      </section>
      <section class="card" aria-labelledby="up-h">
        <h2 id="up-h">Upstream MCP servers ({v.upstreams.length})</h2>
        {v.upstreams.length ? (
          <Table head={['Name', 'URL', 'Scopes', 'State']}>
            {v.upstreams.map((u) => (
              <tr data-upstream={str(u.name)}>
                <td>
                  {str(u.name)}
                  {u.prefix ? <div class="muted small">tools as {str(u.prefix)}*</div> : null}
                </td>
                <td class="wrap">
                  <code>{str(u.url)}</code>
                </td>
                <td>
                  <Scopes scopes={list(u.scopes)} />
                </td>
                <TargetState item={u} switchedOff={v.switchedOff} />
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">None configured.</p>
        )}
      </section>
    </div>
  </>
);

export interface ToolForm {
  resource: string;
  scopes: string;
  title: string;
  description: string;
  enabled: boolean;
}

export function toolForm(t: Item): ToolForm {
  return { resource: str(t.resource), scopes: list(t.scopes).join(' '), title: str(t.title), description: str(t.description), enabled: enabledOf(t) };
}

export interface ToolEditView {
  name: string;
  /** The item's place in the file, e.g. tools[3]. */
  path: string;
  version: string;
  /** Fleet mode: the store's revision the form was read at. */
  revision?: number;
  form: ToolForm;
  json: string;
  resourceNames: string[];
  csrf?: string;
  /** Validation issues of the last submit, by field ('' = not tied to a field). */
  issues?: Map<string, ConfigIssue[]>;
  /** Which form was submitted (its errors are shown there). */
  submitted?: 'fields' | 'json';
  conflict?: string;
}

const FieldErrors: FC<{ id: string; issues?: ConfigIssue[] }> = ({ id, issues }) =>
  issues?.length ? (
    <div class="field-error" id={id}>
      {issues.map((i) => (
        <div>
          <code>{i.path}</code>: {i.message}
        </div>
      ))}
    </div>
  ) : null;

interface FieldAria {
  'aria-invalid'?: 'true';
  'aria-describedby'?: string;
}

/**
 * One labelled control of the mapping form with its hint and the errors of the last submit.
 * `control` gets the aria attributes that mark it invalid and point it at its errors and hint.
 */
const Field: FC<{ id: string; label: string; hint?: string; issues?: ConfigIssue[]; control: (aria: FieldAria) => Child }> = ({
  id,
  label,
  hint,
  issues,
  control,
}) => {
  const error = issues?.length ? `${id}-error` : undefined;
  const aria: FieldAria = {
    'aria-invalid': error ? 'true' : undefined,
    'aria-describedby': [error, hint ? `${id}-hint` : undefined].filter(Boolean).join(' ') || undefined,
  };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {control(aria)}
      {hint ? (
        <div class="hint" id={`${id}-hint`}>
          {hint}
        </div>
      ) : null}
      <FieldErrors id={`${id}-error`} issues={issues} />
    </div>
  );
};

const GeneralErrors: FC<{ issues?: ConfigIssue[] }> = ({ issues }) =>
  issues?.length ? (
    <div class="flash error" role="alert">
      <strong>The change was not saved:</strong>
      <ul>
        {issues.map((i) => (
          <li>
            <code>{i.path}</code>: {i.message}
          </li>
        ))}
      </ul>
    </div>
  ) : null;

export const ToolEditBody: FC<{ v: ToolEditView }> = ({ v }) => {
  const fieldIssues = v.submitted === 'fields' ? v.issues : undefined;
  const jsonIssues = v.submitted === 'json' ? v.issues : undefined;
  const err = (field: string) => fieldIssues?.get(field);
  const action = `/admin/tools/${encodeURIComponent(v.name)}`;
  const known = new Set(['resource', 'scopes', 'title', 'description', 'enabled']);
  const other = fieldIssues ? [...fieldIssues.entries()].filter(([k]) => !known.has(k)).flatMap(([, i]) => i) : [];
  return (
    <>
      <p class="small">
        <a href="/admin/tools">← Tools</a>
      </p>
      <h1>
        Edit tool <code>{v.name}</code>
      </h1>
      <p class="lead">
        {v.revision !== undefined ? (
          <>
            <code>{v.path}</code> of the fleet config in the shared store, revision {v.revision}. Saved changes apply to the next call on every instance;
            connected clients are told the tool list changed.
          </>
        ) : (
          <>
            <code>{v.path}</code> in the config file. Saved changes apply to the next call; connected clients are told the tool list changed.
          </>
        )}
      </p>
      {v.conflict ? (
        <div class="flash error" role="alert">
          This tool was changed by someone else (another admin{v.revision !== undefined ? ', through any instance' : ' or a hand edit of the file'}) since you
          opened it: nothing was saved. <a href={action}>Reload</a> to see the current version, then make your change again.
        </div>
      ) : null}
      <div class="grid2">
        <section class="card" aria-labelledby="fields-h">
          <h2 id="fields-h">Mapping</h2>
          <GeneralErrors issues={other} />
          <form method="post" action={action} class="stack" novalidate>
            <Csrf token={v.csrf} />
            <input type="hidden" name="version" value={v.version} />
            <Field
              id="resource"
              label="Resource"
              issues={err('resource')}
              control={(aria) => (
                <select id="resource" name="resource" class="wide" {...aria}>
                  {(v.resourceNames.includes(v.form.resource) ? v.resourceNames : [v.form.resource, ...v.resourceNames]).map((r) => (
                    <option value={r} selected={r === v.form.resource}>
                      {r}
                    </option>
                  ))}
                </select>
              )}
            />
            <Field
              id="scopes"
              label="Scopes"
              hint="Separated by spaces or commas. Requested from the resource for every call of this tool."
              issues={err('scopes')}
              control={(aria) => <input id="scopes" name="scopes" type="text" class="wide mono" value={v.form.scopes} {...aria} />}
            />
            <Field
              id="title"
              label="Title"
              issues={err('title')}
              control={(aria) => <input id="title" name="title" type="text" class="wide" value={v.form.title} {...aria} />}
            />
            <Field
              id="description"
              label="Description"
              hint="What agents read to decide when to call the tool."
              issues={err('description')}
              control={(aria) => (
                <textarea id="description" name="description" {...aria}>
                  {v.form.description}
                </textarea>
              )}
            />
            <div class="field">
              <label class="check">
                <input type="checkbox" name="enabled" value="on" checked={v.form.enabled} /> Enabled{' '}
                <span class="muted small">(unchecked: every call is refused and audited)</span>
              </label>
              <FieldErrors id="enabled-error" issues={err('enabled')} />
            </div>
            <div class="actions">
              <button class="primary" type="submit">
                Save
              </button>
              <a class="button" href="/admin/tools">
                Cancel
              </a>
            </div>
          </form>
        </section>
        <section class="card" aria-labelledby="json-h">
          <h2 id="json-h">Full JSON</h2>
          <GeneralErrors issues={jsonIssues ? [...jsonIssues.values()].flat() : undefined} />
          <form method="post" action={`${action}/json`} class="stack">
            <Csrf token={v.csrf} />
            <input type="hidden" name="version" value={v.version} />
            <div class="field">
              <label for="json">The tool as written in the config file</label>
              <textarea id="json" name="json" class="json" spellcheck={false} aria-invalid={jsonIssues?.size ? 'true' : undefined}>
                {v.json}
              </textarea>
            </div>
            <div class="actions">
              <button type="submit">Save JSON</button>
            </div>
          </form>
        </section>
      </div>
    </>
  );
};
