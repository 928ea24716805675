import { badRequest, needScopes, ok, type ApiApp } from '../api-env.js';

/** Acme Expenses: the expense reports waiting for the acting user's approval. */

const REPORTS = [
  {
    id: 'exp-2041',
    approver: 'u-alice',
    employee: 'Bob Brandt',
    amount: 1240.5,
    currency: 'EUR',
    description: 'Flight and hotel, Berlin customer visit',
    submittedAt: '2025-06-02T08:14:00Z',
    status: 'pending',
  },
  {
    id: 'exp-2042',
    approver: 'u-alice',
    employee: 'Dana Dorsey',
    amount: 86.2,
    currency: 'EUR',
    description: 'Team lunch with Globex',
    submittedAt: '2025-06-03T12:40:00Z',
    status: 'pending',
  },
  {
    id: 'exp-2043',
    approver: 'u-alice',
    employee: 'Evan Ito',
    amount: 349,
    currency: 'USD',
    description: 'Conference ticket, API World',
    submittedAt: '2025-06-04T16:05:00Z',
    status: 'pending',
  },
  {
    id: 'exp-2038',
    approver: 'u-alice',
    employee: 'Bob Brandt',
    amount: 42,
    currency: 'EUR',
    description: 'Taxi to the airport',
    submittedAt: '2025-05-28T07:30:00Z',
    status: 'approved',
  },
  {
    id: 'exp-2044',
    approver: 'u-bob',
    employee: 'Frank Ortiz',
    amount: 19.99,
    currency: 'USD',
    description: 'Monthly VPN subscription',
    submittedAt: '2025-06-05T09:00:00Z',
    status: 'pending',
  },
];

export function expensesApi(api: ApiApp): void {
  api.get('/approvals', (c) => {
    const denied = needScopes(c, 'expenses.read');
    if (denied) return denied;
    const status = c.req.query('status') ?? 'pending';
    if (!['pending', 'approved', 'all'].includes(status)) return badRequest(c, 'status must be pending, approved or all');
    const approvals = REPORTS.filter((r) => r.approver === c.get('auth').sub && (status === 'all' || r.status === status)).map(
      ({ approver: _approver, ...r }) => r,
    );
    return ok(c, { status, approvals });
  });
}
