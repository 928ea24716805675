import { needScopes, notFound, ok, type ApiApp } from '../api-env.js';

/** Acme Payroll: salary records (sensitive; the demo IdP keeps the gateway's connection disabled). */

const SALARIES: Record<string, { employeeId: string; name: string; annualSalary: number; currency: string; payGrade: string }> = {
  'e-1001': { employeeId: 'e-1001', name: 'Alice Anders', annualSalary: 118000, currency: 'EUR', payGrade: 'M2' },
  'e-1002': { employeeId: 'e-1002', name: 'Bob Brandt', annualSalary: 86000, currency: 'EUR', payGrade: 'P3' },
  'e-1003': { employeeId: 'e-1003', name: 'Carol Castillo', annualSalary: 92000, currency: 'EUR', payGrade: 'P4' },
};

export function payrollApi(api: ApiApp): void {
  api.get('/salaries/:employeeId', (c) => {
    const denied = needScopes(c, 'payroll.read');
    if (denied) return denied;
    const record = SALARIES[c.req.param('employeeId')];
    return record ? ok(c, { ...record }) : notFound(c, `no employee "${c.req.param('employeeId')}"`);
  });
}
