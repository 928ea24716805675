import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { RevocationSummary, SwitchState } from '../domain/control.js';
import { switchTarget } from '../control/switches.js';
import { AdminCliError, AdminClient } from './client.js';
import { formatTable, when } from './table.js';

export interface AdminCliIo {
  stdout(s: string): void;
  stderr(s: string): void;
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** Reads `--file -`. */
  stdin?: () => Promise<string>;
}

interface Globals {
  url?: string;
  token?: string;
  json?: boolean;
}

// Rows are the admin API's JSON, printed field by field: typed as it is read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON from the admin API
type Row = Record<string, any>;

const KINDS = { tools: 'tool', resources: 'resource', upstreams: 'upstream' } as const;
type Kind = keyof typeof KINDS;

/** A table of items: its column headings and the cells of one item. */
interface Listing {
  headers: string[];
  row: (i: Row) => Array<string | undefined>;
}

const LISTS: Record<Kind, Listing> = {
  tools: {
    headers: ['NAME', 'RESOURCE', 'SCOPES', 'METHOD', 'URL', 'ENABLED'],
    row: (t) => [t.name, t.resource, (t.scopes ?? []).join(' '), t.http?.method, t.http?.url, String(t.enabled ?? true)],
  },
  resources: {
    headers: ['NAME', 'RESOURCE', 'AUTHORIZATION SERVER', 'CLIENT', 'AUTH', 'ENABLED'],
    row: (r) => [r.name, r.resource, r.authorizationServer, r.client?.clientId, r.client?.auth?.method, String(r.enabled ?? true)],
  },
  upstreams: {
    headers: ['NAME', 'URL', 'PREFIX', 'SCOPES', 'ENABLED'],
    row: (u) => [u.name, u.url, u.prefix, (u.scopes ?? []).join(' '), String(u.enabled ?? true)],
  },
};

/** Where a config change went, as the gateway said (X-Config-Source / X-Config-Revision). */
function writtenTo(res: { source?: 'file' | 'store'; revision?: number; version?: string }): string {
  if (res.source === 'store') return `in force now on every instance: shared store revision ${res.revision ?? '?'}`;
  return `in force now and written to mcp.config.json (version ${res.version?.slice(0, 12) ?? '?'})`;
}

/**
 * `xaa-gateway admin ...`: every admin API action against a running gateway, authenticated with
 * an admin token (XAA_ADMIN_TOKEN or --token). Tables by default, `--json` for scripts.
 */
export function registerAdminCommand(program: Command, io: AdminCliIo, setExitCode: (code: number) => void): Command {
  const admin = program
    .command('admin')
    .description('administer a running gateway (xaa-gateway serve): tools, resources, upstreams, kill switches, sessions, signing keys')
    // The variables are read from io.env (not bound with Option.env) so an embedding passes its own.
    .addOption(new Option('--url <url>', 'the gateway, e.g. https://mcp.acme.example (env: XAA_GATEWAY_URL)'))
    .addOption(new Option('--token <token>', 'admin token, one of admin.tokens; prefer the environment variable (env: XAA_ADMIN_TOKEN)'))
    .option('--json', 'print JSON instead of tables');

  const run =
    <A extends unknown[]>(fn: (client: AdminClient, g: Globals, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const g = admin.opts<Globals>();
      try {
        const url = g.url ?? io.env.XAA_GATEWAY_URL;
        if (!url) throw new AdminCliError('which gateway? pass --url <gateway URL> (or set XAA_GATEWAY_URL)', 2);
        const token = g.token ?? io.env.XAA_ADMIN_TOKEN;
        if (!token)
          throw new AdminCliError(
            "no admin token: set XAA_ADMIN_TOKEN to one of the tokens in admin.tokens of the gateway's mcp.config.json (or pass --token)",
            2,
          );
        await fn(new AdminClient(url, token, io.fetch), g, ...args);
      } catch (e) {
        if (!(e instanceof AdminCliError)) throw e;
        io.stderr(`xaa-gateway admin: ${e.message}`);
        setExitCode(e.exitCode);
      }
    };
  const print = (g: Globals, json: unknown, table: () => string) => io.stdout(g.json ? JSON.stringify(json, null, 2) : table());
  /** `<group> list`: GET `path` and print its `key` array as a table, or `empty` when there is none and it is given. */
  const listCommand = (group: Command, description: string, path: string, key: string, listing: Listing, empty?: string) =>
    group
      .command('list')
      .description(description)
      .action(
        run(async (client, g) => {
          const list: Row[] = (await client.request('GET', path)).body[key];
          print(g, list, () => (!list.length && empty !== undefined ? empty : formatTable(listing.headers, list.map(listing.row))));
        }),
      );
  const REASON_OPTION = ['--reason <text>', 'why (kept in the audit log)'] as const;
  const reasonBody = (o: { reason?: string }) => ({ body: o.reason ? { reason: o.reason } : {} });

  // ---- where the config comes from ----
  admin
    .command('config')
    .description('where tools, resources and upstreams are kept (the file, or the store shared by a fleet), the revision and whether it is in force')
    .action(
      run(async (client, g) => {
        const res = await client.request('GET', '/config');
        const b = res.body as Row;
        const { config: _config, ...summary } = b;
        print(g, summary, () => {
          const counts = `${(b.config?.tools ?? []).length} tools, ${Object.keys(b.config?.resources ?? {}).length} resources, ${(b.config?.upstreams ?? []).length} upstreams`;
          if (b.source === 'store') {
            const lag =
              b.revisionInForce !== b.revision
                ? `; this instance has revision ${b.revisionInForce} in force (it follows within a second)`
                : '; in force on this instance';
            return `source: shared store (${b.store}), revision ${b.revision}${lag}
${counts}; last written ${b.updatedAt ? new Date(b.updatedAt).toISOString() : '?'} (${b.updatedBy ?? '?'})
other settings (server, idp, admin, audit): ${b.path} of that instance`;
          }
          return `source: ${b.path} (version ${String(b.version).slice(0, 12)}${b.inForce ? ', in force' : ', NOT in force: the file on disk changed and is pending or invalid (see the gateway log)'})
${counts}`;
        });
      }),
    );

  // ---- tools, resources, upstreams ----
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const one = KINDS[kind];
    const cmd = admin.command(kind).description(`list, show, create or replace, and delete ${kind} (of mcp.config.json, or of the fleet's shared store)`);
    listCommand(cmd, `list the ${kind}`, `/${kind}`, kind, LISTS[kind]);
    cmd
      .command('get')
      .argument('<name>')
      .description(`print one ${one} as it is in mcp.config.json (JSON)`)
      .action(
        run(async (client, _g, name: string) => {
          io.stdout(JSON.stringify((await client.request('GET', `/${kind}/${encodeURIComponent(name)}`)).body, null, 2));
        }),
      );
    cmd
      .command('set')
      .argument('[name]', `the ${one} to replace (default: the "name" in the file)`)
      .requiredOption('--file <file>', `JSON of the whole ${one} ("-" for stdin)`)
      .description(`create the ${one}, or replace it whole; validated by the gateway, applied at once and written to mcp.config.json`)
      .action(
        run(async (client, g, name: string | undefined, o: { file: string }) => {
          const text =
            o.file === '-'
              ? await (io.stdin ?? (() => Promise.reject(new AdminCliError('no stdin'))))()
              : await readFile(o.file, 'utf8').catch((e: NodeJS.ErrnoException) => {
                  throw new AdminCliError(`cannot read ${o.file} (${e.code ?? e.message})`, 2);
                });
          let item: Row;
          try {
            item = JSON.parse(text) as Row;
          } catch (e) {
            throw new AdminCliError(`${o.file} is not valid JSON: ${(e as Error).message}`, 2);
          }
          const target = name ?? (typeof item?.name === 'string' ? item.name : undefined);
          if (!target) throw new AdminCliError(`name the ${one}: give it as an argument or as "name" in the file`, 2);
          const path = `/${kind}/${encodeURIComponent(target)}`;
          const current = await client.request('GET', path, { allow: [404] });
          const exists = current.status === 200;
          const res = exists
            ? await client.request('PUT', path, { body: item, ifMatch: current.version })
            : await client.request('POST', `/${kind}`, { body: { ...item, name: target }, ifMatch: current.version });
          print(g, res.body, () => `${exists ? 'replaced' : 'created'} ${one} "${target}"; ${writtenTo(res)}`);
        }),
      );
    cmd
      .command('delete')
      .argument('<name>')
      .description(`delete the ${one}`)
      .action(
        run(async (client, g, name: string) => {
          const path = `/${kind}/${encodeURIComponent(name)}`;
          const current = await client.request('GET', path);
          const res = await client.request('DELETE', path, { ifMatch: current.version });
          print(g, res.body, () => `deleted ${one} "${name}"; ${writtenTo(res)}`);
        }),
      );
  }

  // ---- kill switches ----
  const switches = admin.command('switches').description('kill switches: deny a user, an agent, a resource, a connection, or every call, at once');
  listCommand(
    switches,
    'the switches in force',
    '/switches',
    'switches',
    { headers: ['KIND', 'TARGET', 'REASON', 'BY', 'SINCE'], row: (s) => [s.switch.kind, switchTarget(s.switch), s.reason, actorLabel(s.actor), when(s.since)] },
    'no kill switch is set',
  );
  const switchPath = (kind: string, args: string[], iss?: string): string => {
    const need = (n: number, usage: string) => {
      if (args.length !== n) throw new AdminCliError(`usage: switches set|lift ${usage}`, 2);
    };
    const e = encodeURIComponent;
    switch (kind) {
      case 'user':
        need(1, 'user <sub> [--iss <issuer>]');
        return `/switches/user/${e(args[0]!)}${iss ? `?iss=${e(iss)}` : ''}`;
      case 'agent':
        need(1, 'agent <clientId>');
        return `/switches/agent/${e(args[0]!)}`;
      case 'resource':
        need(1, 'resource <name>');
        return `/switches/resource/${e(args[0]!)}`;
      case 'connection':
        need(2, 'connection <clientId> <resource>');
        return `/switches/connection/${e(args[0]!)}/${e(args[1]!)}`;
      case 'all':
        need(0, 'all');
        return '/switches/all';
      default:
        throw new AdminCliError(`unknown kind "${kind}": use user, agent, resource, connection or all`, 2);
    }
  };
  /** `switches set|lift <kind> [target...]`: PUT or DELETE on the switch's path; `done` says what happened. */
  const switchCommand = (op: 'set' | 'lift', method: 'PUT' | 'DELETE', description: string, done: (body: Row) => string) =>
    switches
      .command(op)
      .argument('<kind>', 'user | agent | resource | connection | all')
      .argument('[target...]', 'user: <sub>; agent: <clientId>; resource: <name>; connection: <clientId> <resource>')
      .option(...REASON_OPTION)
      .option('--iss <issuer>', "the user's IdP issuer (default: idp.issuer of the gateway)")
      .description(description)
      .action(
        run(async (client, g, kind: string, target: string[], o: { reason?: string; iss?: string }) => {
          const res = await client.request(method, switchPath(kind, target, o.iss), reasonBody(o));
          print(g, res.body, () => done(res.body));
        }),
      );
  switchCommand('set', 'PUT', 'set a kill switch: the next call is denied, cached tokens are purged, sessions revoked (users, agents)', (body) => {
    const r: RevocationSummary = body.revoked;
    return `kill switch ${body.switch.label} is set; revoked ${r.sessions} session(s), ${r.refreshTokens} refresh token(s), ${r.downstreamTokens} cached downstream token(s)`;
  });
  switchCommand('lift', 'DELETE', 'lift a kill switch', (body) => `kill switch ${body.lifted.label} lifted`);

  // ---- sessions ----
  const sessions = admin.command('sessions').description('signed-in users and their agents');
  listCommand(
    sessions,
    'active gateway sessions with the agents holding grants in them',
    '/sessions',
    'sessions',
    {
      headers: ['SESSION', 'USER', 'EMAIL', 'AGENTS', 'SIGNED IN', 'LAST ACTIVE'],
      row: (s) => [
        s.id,
        s.user.sub,
        s.user.email,
        (s.agents as Row[]).map((a) => a.clientName ?? a.clientId).join(', '),
        when(s.signedInAt),
        when(s.lastActiveAt),
      ],
    },
    'nobody is signed in',
  );
  sessions
    .command('revoke')
    .argument('<id>', 'session id (see sessions list)')
    .option(...REASON_OPTION)
    .description("sign one session out: its refresh tokens die and its user's cached downstream tokens are purged")
    .action(
      run(async (client, g, id: string, o: { reason?: string }) => {
        const res = await client.request('DELETE', `/sessions/${encodeURIComponent(id)}`, reasonBody(o));
        const r: RevocationSummary = res.body.revoked;
        print(
          g,
          res.body,
          () =>
            `session ${id} of ${res.body.session.user.email ?? res.body.session.user.sub} revoked; ${r.refreshTokens} refresh token(s), ${r.downstreamTokens} cached downstream token(s)`,
        );
      }),
    );

  // ---- signing keys ----
  const keys = admin.command('keys').description("the keys that sign the gateway's access tokens (published at /jwks)");
  listCommand(keys, 'the signing key and the retired keys that still verify', '/keys', 'keys', {
    headers: ['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED', 'VERIFIES UNTIL'],
    row: (k) => [k.kid, k.alg, k.signing ? 'signing' : 'verifying', when(k.createdAt), when(k.retiredAt ?? undefined), when(k.verifyUntil ?? undefined)],
  });
  keys
    .command('rotate')
    .option(...REASON_OPTION)
    .description('sign new tokens with a new key now; the old key keeps verifying until its tokens have expired')
    .action(
      run(async (client, g, o: { reason?: string }) => {
        const res = await client.request('POST', '/keys/rotate', reasonBody(o));
        const b = res.body;
        print(g, b, () => `signing key rotated: ${b.kid} signs new tokens${b.previous ? `; ${b.previous} keeps verifying until ${when(b.verifyUntil)}` : ''}`);
      }),
    );
  return admin;
}

/** Runs `admin ...` in process (tests, embedding). Returns the exit code. */
export async function runAdminCli(argv: string[], io: AdminCliIo): Promise<number> {
  let code = 0;
  const program = new Command('xaa-gateway')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });
  const admin = registerAdminCommand(program, io, (c) => (code = c));
  try {
    for (const c of [admin, ...admin.commands, ...admin.commands.flatMap((x) => x.commands)]) c.exitOverride();
    await program.parseAsync(['admin', ...argv], { from: 'user' });
  } catch (e) {
    const exit = (e as { exitCode?: number }).exitCode;
    if (typeof exit !== 'number') throw e;
    code = exit;
  }
  return code;
}

function actorLabel(a: SwitchState['actor']): string {
  if (a.kind === 'security_event') return `IdP event ${a.eventType.split('/').at(-1) ?? a.eventType}`;
  if (a.kind === 'scim') return `SCIM ${a.client}`;
  return a.email ?? a.sub ?? 'admin token';
}
