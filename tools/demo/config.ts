import { join } from 'node:path';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { APP_DEFINITIONS, DEMO_ADMIN_GROUP, ENTERPRISE_AGENT_CLIENT_ID, GATEWAY_CLIENT_ID, SEED_IDP_CLIENTS } from './seed.js';
import type { DemoAppName, DemoUrls } from './types.js';

/**
 * The gateway configuration that fronts the demo enterprise. The committed /mcp.config.json is
 * demoConfig(default URLs) with secret paths relative to the repo root.
 */

type ClientConfig = NonNullable<GatewayConfigInput['resources']>[string]['client'];

/** Where `npm start` serves the remote gateway (the committed config's server.publicUrl). */
export const DEFAULT_GATEWAY_PORT = 4300;

export function demoConfig(urls: DemoUrls, opts: { auditDir?: string; secretsDir?: string; publicUrl?: string } = {}): GatewayConfigInput {
  const secret = (file: string) => ({ file: opts.secretsDir ? join(opts.secretsDir, file) : `tools/demo/secrets/${file}` });

  const client = (app: DemoAppName): ClientConfig => {
    const a = APP_DEFINITIONS[app].clientAuth;
    if (a.method === 'private_key_jwt') {
      return { clientId: GATEWAY_CLIENT_ID, auth: { method: 'private_key_jwt', privateKey: secret(a.privateKeyFile), alg: 'ES256', kid: a.kid } };
    }
    return { clientId: GATEWAY_CLIENT_ID, auth: { method: a.method, clientSecret: secret(a.secretFile) } };
  };

  const resource = (app: DemoAppName) => ({
    resource: `${urls[app]}/api`,
    authorizationServer: urls[app],
    client: client(app),
  });

  const idpClient = SEED_IDP_CLIENTS.find((c) => c.clientId === GATEWAY_CLIENT_ID)!;

  return {
    idp: {
      issuer: urls.idp,
      clientId: GATEWAY_CLIENT_ID,
      auth: { method: 'client_secret_basic', clientSecret: secret(idpClient.secretFile) },
      loginScopes: ['openid', 'profile', 'email', 'offline_access'],
      subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
    },
    resources: {
      calendar: resource('calendar'),
      expenses: resource('expenses'),
      crm: resource('crm'),
      chat: resource('chat'),
      payroll: resource('payroll'),
    },
    tools: [
      {
        name: 'calendar_free_slots',
        title: 'Find free calendar slots',
        description:
          "Lists the signed-in user's free time slots on a given day (working hours 09:00-17:00 UTC) long enough for a meeting of the given duration.",
        resource: 'calendar',
        scopes: ['calendar.read'],
        inputSchema: {
          type: 'object',
          properties: {
            date: { type: 'string', format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'Day to search, YYYY-MM-DD' },
            durationMinutes: { type: 'integer', minimum: 15, maximum: 240, default: 30, description: 'Meeting length in minutes (default 30)' },
          },
          required: ['date'],
          additionalProperties: false,
        },
        http: { method: 'GET', url: `${urls.calendar}/api/free-slots` },
      },
      {
        name: 'calendar_create_meeting',
        title: 'Create a meeting',
        description: "Creates a meeting in the signed-in user's calendar (the user is the organizer) and invites the attendees.",
        resource: 'calendar',
        scopes: ['calendar.write'],
        inputSchema: {
          type: 'object',
          properties: {
            title: { type: 'string', minLength: 1, maxLength: 200, description: 'Meeting title' },
            start: { type: 'string', format: 'date-time', description: 'Start time, ISO 8601 date-time (e.g. 2025-06-10T14:00:00Z)' },
            durationMinutes: { type: 'integer', minimum: 5, maximum: 480, description: 'Length in minutes' },
            attendees: { type: 'array', items: { type: 'string', format: 'email' }, description: 'Email addresses of the attendees' },
          },
          required: ['title', 'start', 'durationMinutes', 'attendees'],
          additionalProperties: false,
        },
        http: { method: 'POST', url: `${urls.calendar}/api/meetings` },
      },
      {
        name: 'expenses_pending_approvals',
        title: 'Expense reports awaiting approval',
        description: 'Lists the expense reports waiting for the signed-in user to approve (employee, amount, currency, description).',
        resource: 'expenses',
        scopes: ['expenses.read'],
        inputSchema: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['pending', 'approved', 'all'], default: 'pending', description: 'Which reports to list (default pending)' },
          },
          additionalProperties: false,
        },
        http: { method: 'GET', url: `${urls.expenses}/api/approvals` },
      },
      {
        name: 'crm_get_customer',
        title: 'Get a CRM customer',
        description: 'Returns one customer record from Acme CRM by its id (e.g. cus_1001): tier, owner, revenue, open opportunities.',
        resource: 'crm',
        scopes: ['crm.read'],
        inputSchema: {
          type: 'object',
          properties: { customerId: { type: 'string', pattern: '^cus_[0-9]+$', description: 'Customer id, e.g. cus_1001' } },
          required: ['customerId'],
          additionalProperties: false,
        },
        http: { method: 'GET', url: `${urls.crm}/api/customers/{customerId}` },
      },
      {
        name: 'crm_search_customers',
        title: 'Search CRM customers',
        description: 'Finds Acme CRM customers whose name or domain contains the query.',
        resource: 'crm',
        scopes: ['crm.read'],
        inputSchema: {
          type: 'object',
          properties: { query: { type: 'string', minLength: 1, description: 'Part of a customer name or domain, e.g. "acme"' } },
          required: ['query'],
          additionalProperties: false,
        },
        http: { method: 'GET', url: `${urls.crm}/api/customers` },
      },
      {
        name: 'chat_post_message',
        title: 'Post a chat message',
        description: 'Posts a message to an Acme Chat channel as the signed-in user.',
        resource: 'chat',
        scopes: ['chat.write'],
        inputSchema: {
          type: 'object',
          properties: {
            channel: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,79}$', description: 'Channel name, e.g. "sales"' },
            text: { type: 'string', minLength: 1, maxLength: 4000, description: 'Message text' },
          },
          required: ['channel', 'text'],
          additionalProperties: false,
        },
        http: { method: 'POST', url: `${urls.chat}/api/channels/{channel}/messages`, body: { text: 'text' } },
      },
      {
        name: 'payroll_get_salary',
        title: 'Get an employee salary',
        description: "Returns an employee's salary record from Acme Payroll (the demo IdP keeps the gateway's connection to payroll disabled).",
        resource: 'payroll',
        scopes: ['payroll.read'],
        inputSchema: {
          type: 'object',
          properties: { employeeId: { type: 'string', pattern: '^e-[0-9]+$', description: 'Employee id, e.g. e-1002' } },
          required: ['employeeId'],
          additionalProperties: false,
        },
        http: { method: 'GET', url: `${urls.payroll}/api/salaries/{employeeId}` },
      },
    ],
    upstreams: [
      {
        name: 'crm-mcp',
        url: `${urls.crm}/mcp`,
        prefix: 'crmmcp_',
        scopes: ['crm.read'],
        client: client('crm'),
        deny: ['delete_*'],
      },
    ],
    audit: { dir: opts.auditDir ?? './data/audit' },
    // The remote gateway (`xaa-gateway serve`, started by `npm start` too). The store key is a
    // demo-only secret like the others; dynamic registration and CIMD are on so any MCP client connects.
    server: {
      publicUrl: opts.publicUrl ?? `http://127.0.0.1:${DEFAULT_GATEWAY_PORT}`,
      port: opts.publicUrl ? Number(new URL(opts.publicUrl).port) : DEFAULT_GATEWAY_PORT,
      encryptionKey: secret('gateway-encryption-key'),
      dataDir: './data/store',
      // Enterprise-managed sign-in (MCP SEP-990): the demo IdP's enterprise-agent brings an ID-JAG for this
      // gateway and redeems it at /token, no browser (`npm run demo:agent`, docs/enterprise-managed.md).
      enterpriseManaged: { enabled: true },
      clients: [
        {
          clientId: ENTERPRISE_AGENT_CLIENT_ID,
          clientName: 'Enterprise Agent (managed by the IdP)',
          // Never used (it signs in by jwt-bearer), but a registered client names where a code could go.
          redirectUris: ['http://127.0.0.1/callback'],
          clientSecret: secret('enterprise-agent-gateway-secret'),
        },
      ],
    },
    // Members of this IdP group (alice) may sign in at /admin; automation (the admin CLI) uses the token.
    admin: { group: DEMO_ADMIN_GROUP, tokens: [secret('gateway-admin-token')] },
    // Security events (CAEP/RISC) the demo IdP pushes to <publicUrl>/ssf/events (`npm start` creates the stream).
    ssf: { transmitter: urls.idp, delivery: 'push', pushToken: secret('ssf-push-token') },
    // SCIM provisioning from the demo IdP to <publicUrl>/scim/v2 (`npm start` connects it): externalId is the user's sub.
    scim: { clients: [{ name: 'demo-idp', token: secret('scim-token'), subject: 'externalId' }] },
  };
}
