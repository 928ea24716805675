import { badRequest, needScopes, notFound, ok, type ApiApp } from '../api-env.js';
import { findCustomer, searchCustomers } from './crm-data.js';

/** Acme CRM REST API (its MCP server is in ../crm-mcp.ts). */

export function crmApi(api: ApiApp): void {
  api.get('/customers', (c) => {
    const denied = needScopes(c, 'crm.read');
    if (denied) return denied;
    const query = c.req.query('query') ?? '';
    if (!query.trim()) return badRequest(c, 'query is required');
    return ok(c, { query, customers: searchCustomers(query) });
  });

  api.get('/customers/:customerId', (c) => {
    const denied = needScopes(c, 'crm.read');
    if (denied) return denied;
    const customer = findCustomer(c.req.param('customerId'));
    return customer ? ok(c, { ...customer }) : notFound(c, `no customer "${c.req.param('customerId')}"`);
  });
}
