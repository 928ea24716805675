import type { Context, Hono } from 'hono';
import { getItem, itemPath, listItems, mergePatch } from '../../collections.js';
import type { ConfigEditor } from '../../config-editor.js';
import { getAdminActor, type AdminEnv } from '../../context.js';
import { issuesByField, updateConfigItem } from '../edit.js';
import { splitScopes } from '../format.js';
import { ToolEditBody, toolForm, ToolsBody, type ToolEditView, type ToolForm } from '../tools.js';
import type { ConsoleKit } from './kit.js';

/** The tools pages: the list of tools, resources and upstreams, and the edit form of one tool (fields or JSON). */
export function toolRoutes(app: Hono<AdminEnv>, kit: ConsoleKit, editor: ConfigEditor): void {
  const { opts, guard, page, notFoundPage, csrfOf, formOf, redirect } = kit;

  app.get('/tools', guard, async (c) => {
    const { raw, version, revision } = await editor.read();
    const fleet = opts.config.current.fleet;
    const switchedOff = new Set(opts.control.listSwitches().flatMap((s) => (s.switch.kind === 'resource' ? [s.switch.name] : [])));
    return page(
      c,
      200,
      'Tools',
      'tools',
      <ToolsBody
        v={{
          tools: listItems(raw, 'tools'),
          resources: listItems(raw, 'resources'),
          upstreams: listItems(raw, 'upstreams'),
          switchedOff,
          path: editor.path,
          pendingOnDisk: !editor.inForce(version),
          ...(editor.source === 'store' && fleet && revision !== undefined ? { fleet: { where: fleet.where, revision, revisionInForce: fleet.revision } } : {}),
        }}
      />,
    );
  });

  async function editPage(c: Context<AdminEnv>, name: string, status: number, over: Partial<ToolEditView> = {}): Promise<Response> {
    const { raw, version, revision } = await editor.read();
    const tool = getItem(raw, 'tools', name);
    if (!tool) return notFoundPage(c, `No tool named "${name}" in the config file (it may have been renamed or deleted).`);
    const v: ToolEditView = {
      name,
      path: itemPath(raw, 'tools', name),
      version,
      ...(revision !== undefined ? { revision } : {}),
      form: toolForm(tool),
      json: JSON.stringify(tool, null, 2),
      resourceNames: listItems(raw, 'resources').map((r) => String(r.name)),
      ...csrfOf(c),
      ...over,
    };
    return page(c, status, `Edit ${name}`, 'tools', <ToolEditBody v={v} />);
  }

  app.get('/tools/:name', guard, (c) => editPage(c, c.req.param('name'), 200));

  /**
   * Saves one tool through updateConfigItem (`replace`: the whole tool; `patch`: a merge patch of
   * it); a refusal re-renders the form with what was typed.
   */
  async function saveTool(
    c: Context<AdminEnv>,
    submitted: 'fields' | 'json',
    f: Record<string, string>,
    change: { op: 'replace' | 'patch'; body: unknown },
    typed: Partial<ToolEditView>,
  ) {
    const name = c.req.param('name')!;
    const version = f.version ?? '';
    if (!/^[0-9a-f]{64}$/.test(version))
      return editPage(c, name, 400, {
        ...typed,
        submitted,
        issues: new Map([['', [{ path: '(form)', message: 'the form has no config version; reload the page and try again' }]]]),
      });
    const conflict = (message: string) => editPage(c, name, 409, { ...typed, submitted, version, conflict: message });
    const current = await editor.read();
    // A stale form is a conflict whatever it holds (the editor checks again under its lock).
    if (current.version !== version) return conflict('the config changed since the form was opened');
    // Nothing to write when the form equals the file (no empty audit record, no reload).
    const before = getItem(current.raw, 'tools', name);
    if (before && JSON.stringify(change.op === 'patch' ? mergePatch(before, change.body) : change.body) === JSON.stringify(before)) {
      return redirect(`/admin/tools/${encodeURIComponent(name)}`, { kind: 'warn', text: `No change to save in tool "${name}".` });
    }
    const r = await updateConfigItem(opts, editor, getAdminActor(c), 'tools', name, version, change);
    if (r.ok) {
      const inForce = editor.inForce(r.version);
      const where = r.revision !== undefined ? ` on every instance (shared store, revision ${r.revision})` : '';
      return redirect('/admin/tools', {
        kind: inForce ? 'ok' : 'warn',
        text: inForce
          ? `Saved tool "${name}": in force from the next call${where}.`
          : r.revision !== undefined
            ? `Saved tool "${name}" as revision ${r.revision} of the shared store, but it is not in force on this instance: see its log.`
            : `Saved tool "${name}", but the file changed again right after; what is on disk will be in force.`,
      });
    }
    if (r.kind === 'not_found') return notFoundPage(c, r.message);
    if (r.kind === 'conflict') return conflict(r.message);
    return editPage(c, name, 400, { ...typed, submitted, version, issues: issuesByField(r.issues, itemPath(current.raw, 'tools', name)) });
  }

  app.post('/tools/:name', guard, async (c) => {
    const f = await formOf(c);
    const form: ToolForm = {
      resource: f.resource ?? '',
      scopes: f.scopes ?? '',
      title: (f.title ?? '').trim(),
      description: (f.description ?? '').replace(/\r\n?/g, '\n').trim(),
      enabled: f.enabled === 'on',
    };
    // A JSON Merge Patch (RFC 7396) of the fields this form owns; null removes a member, so an
    // unchecked "enabled" is written as false and a checked one falls back to the default (true).
    const patch = {
      resource: form.resource,
      scopes: splitScopes(form.scopes),
      title: form.title || null,
      description: form.description,
      enabled: form.enabled ? null : false,
    };
    return saveTool(c, 'fields', f, { op: 'patch', body: patch }, { form });
  });

  app.post('/tools/:name/json', guard, async (c) => {
    const f = await formOf(c);
    const text = f.json ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return editPage(c, c.req.param('name'), 400, {
        json: text,
        submitted: 'json',
        ...(f.version ? { version: f.version } : {}),
        issues: new Map([['', [{ path: '(json)', message: `not valid JSON: ${(e as Error).message}` }]]]),
      });
    }
    return saveTool(c, 'json', f, { op: 'replace', body: parsed }, { json: text });
  });
}
