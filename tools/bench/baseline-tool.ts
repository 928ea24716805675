/** The one tool of the plain-SDK baselines: the gateway tool's GET, with a static token (env). */
export function benchTool() {
  const url = process.env.BENCH_SAAS_URL;
  const token = process.env.BENCH_SAAS_TOKEN;
  if (!url || !token) throw new Error('BENCH_SAAS_URL and BENCH_SAAS_TOKEN are required');
  return {
    name: 'expenses_pending_approvals',
    description: 'Lists the expense reports waiting for the signed-in user to approve.',
    async call(): Promise<{ content: { type: 'text'; text: string }[]; isError?: boolean }> {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
      const text = await res.text();
      return { content: [{ type: 'text', text }], ...(res.ok ? {} : { isError: true }) };
    },
  };
}
