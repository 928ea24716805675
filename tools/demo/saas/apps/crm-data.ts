/** Acme CRM's customers, shared by its REST API and its MCP server. */

export interface Customer {
  id: string;
  name: string;
  domain: string;
  tier: 'enterprise' | 'growth' | 'starter';
  accountOwner: string;
  annualRevenue: number;
  currency: string;
  openOpportunities: number;
}

export const CUSTOMERS: readonly Customer[] = [
  {
    id: 'cus_1001',
    name: 'Acme Rockets',
    domain: 'rockets.acme.example',
    tier: 'enterprise',
    accountOwner: 'alice@acme.example',
    annualRevenue: 1_200_000,
    currency: 'USD',
    openOpportunities: 3,
  },
  {
    id: 'cus_1002',
    name: 'Globex Corporation',
    domain: 'globex.example',
    tier: 'enterprise',
    accountOwner: 'alice@acme.example',
    annualRevenue: 860_000,
    currency: 'USD',
    openOpportunities: 1,
  },
  {
    id: 'cus_1003',
    name: 'Initech',
    domain: 'initech.example',
    tier: 'growth',
    accountOwner: 'bob@acme.example',
    annualRevenue: 240_000,
    currency: 'USD',
    openOpportunities: 2,
  },
  {
    id: 'cus_1004',
    name: 'Acme Anvils GmbH',
    domain: 'anvils.acme.example',
    tier: 'starter',
    accountOwner: 'bob@acme.example',
    annualRevenue: 48_000,
    currency: 'EUR',
    openOpportunities: 0,
  },
  {
    id: 'cus_1005',
    name: 'Umbrella Health',
    domain: 'umbrella.example',
    tier: 'growth',
    accountOwner: 'alice@acme.example',
    annualRevenue: 310_000,
    currency: 'USD',
    openOpportunities: 4,
  },
];

export function findCustomer(id: string): Customer | undefined {
  return CUSTOMERS.find((c) => c.id === id);
}

export function searchCustomers(query: string): Customer[] {
  const q = query.trim().toLowerCase();
  return CUSTOMERS.filter((c) => c.name.toLowerCase().includes(q) || c.domain.includes(q));
}
