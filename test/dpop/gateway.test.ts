import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminHarness, type AdminHarness } from '../admin/harness.js';

/**
 * Outbound DPoP end to end (issue 11, point 2a): the remote gateway, wired as `serve` wires it, calls
 * the demo apps with the tokens it mints. Each app's DPoP policy (tools/demo/seed.ts) meets each
 * resource's `dpop` setting; the decision record says which token type was used, and where DPoP
 * was asked for and not given, the call fails with the reason instead of going on with a bearer token.
 */

let h: AdminHarness;
let token: string;

beforeAll(async () => {
  h = await startAdminHarness((c) => {
    const tool = (name: string) => c.tools!.find((t) => t.name === name)!;
    // The same apps again under other settings: chat without DPoP, expenses (which has none) with it required.
    c.resources!['chat-bearer'] = { ...c.resources!.chat!, dpop: 'off' };
    c.resources!['expenses-dpop'] = { ...c.resources!.expenses!, dpop: 'required' };
    c.tools!.push({ ...tool('chat_post_message'), name: 'chat_post_bearer', resource: 'chat-bearer' });
    c.tools!.push({ ...tool('expenses_pending_approvals'), name: 'expenses_dpop_required', resource: 'expenses-dpop' });
  });
  token = await h.token(await h.signIn('alice'));
});
afterAll(() => h?.close());

const decisions = async (tool: string) =>
  (await h.env.audit())
    .filter((r) => r.type === 'tool_call' && r.tool === tool && r.phase === 'decision' && r.decision === 'allow')
    .map((r) => r.tokenType as string);
/** The record of a call refused before anything was sent: a deny decision with the reason and the error code. */
const denial = async (tool: string) => (await h.env.audit()).filter((r) => r.type === 'tool_call' && r.tool === tool && r.decision === 'deny').at(-1);

describe('the gateway calls the demo apps with DPoP where they take it', () => {
  it.each([
    // tool, arguments, the app's policy -> the token the gateway used
    ['calendar_free_slots', { date: '2025-12-01' }, 'optional: the AS advertises DPoP, so "auto" binds', 'DPoP'],
    ['chat_post_message', { channel: 'sales', text: 'bound' }, 'required, with nonces at its AS and API (one retry each)', 'DPoP'],
    ['crmmcp_lookup_customer', { customerId: 'cus_1001' }, 'optional, an upstream MCP server: every MCP request carries a proof', 'DPoP'],
    ['expenses_pending_approvals', {}, 'none: no DPoP advertised, Bearer', 'Bearer'],
  ] as const)('%s (%s): %s -> %s', async (tool, args, _why, type) => {
    const r = await h.call(token, tool, args);
    expect(r, r.text).toMatchObject({ status: 200, isError: false });
    expect((await decisions(tool)).at(-1)).toBe(type);
  });

  it('dpop "off" at an app that requires DPoP: its AS refuses, the call fails naming why, nothing reaches the API', async () => {
    const before = h.env.demo.stats.apiCalls.chat;
    const r = await h.call(token, 'chat_post_bearer', { channel: 'sales', text: 'unbound' });
    expect(r).toMatchObject({ status: 200, isError: true });
    expect(r.text).toContain('invalid_dpop_proof');
    expect(h.env.demo.stats.apiCalls.chat).toBe(before);
    expect((await denial('chat_post_bearer'))!).toMatchObject({
      decision: 'deny',
      reason: expect.stringContaining('invalid_dpop_proof'),
      outcome: { ok: false, error: 'jwt_bearer_failed:invalid_dpop_proof' },
    });
  });

  it('dpop "required" at an app without DPoP: its Bearer answer is refused, never used', async () => {
    const before = h.env.demo.stats.apiCalls.expenses;
    const r = await h.call(token, 'expenses_dpop_required', {});
    expect(r).toMatchObject({ status: 200, isError: true });
    expect(r.text).toContain('refused rather than used as a bearer token');
    expect(h.env.demo.stats.apiCalls.expenses).toBe(before);
    expect((await denial('expenses_dpop_required'))!).toMatchObject({
      decision: 'deny',
      reason: expect.stringContaining('answered a DPoP token request with a "Bearer" token; refused'),
      outcome: { ok: false, error: 'invalid_token_response' },
    });
  });
});
