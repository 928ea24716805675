import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserSession } from '../../src/store/index.js';
import { browserAvailability, launchBrowser, type TestBrowser } from '../../tools/testkit/browser.js';
import { text } from '../../tools/testkit/env.js';
import { AGENT_A, startAdminHarness, type AdminHarness } from '../admin/harness.js';

/**
 * The admin console as an admin uses it, in headless Chromium (issue 4): alice (IdP group
 * gateway-admins) opens /admin, signs in on the IdP's page, edits a tool's scopes (an invalid
 * value first: the error shows next to the field), and an MCP client connected as agent A sees the
 * new tool list and calls with the new scopes; she disables agent A's connection to the CRM and the
 * agent's next CRM call is denied with her reason (audited), while its other connections work; she
 * checks the audit page and the chain, enables the connection again, and signs out. Screenshots of
 * every page are kept in test-artifacts/console/.
 */

const SUITE = 'console';
const TOOL = 'crm_search_customers';
const availability = browserAvailability();

interface Agent {
  client: Client;
  listChanged: number;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** An MCP client with a gateway access token of agent A for alice, listening for tools/list_changed. */
async function connectAgent(h: AdminHarness, session: UserSession): Promise<Agent> {
  const transport = new StreamableHTTPClientTransport(new URL(h.mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${await h.token(session, AGENT_A)}` } },
  });
  const client = new Client({ name: 'console-test-agent', version: '1.0.0' }, { capabilities: {} });
  const agent: Agent = {
    client,
    listChanged: 0,
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    agent.listChanged++;
  });
  await client.connect(transport);
  return agent;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (!availability.run && availability.required) {
  describe('admin console in the browser', () => {
    it('needs Debian chromium under CI', () => {
      throw new Error(availability.reason);
    });
  });
} else {
  if (!availability.run) console.warn(`[test/browser] skipped: ${availability.reason}`);

  describe.skipIf(!availability.run)('admin console (headless Chromium)', () => {
    let h: AdminHarness;
    let browser: TestBrowser;
    let agent: Agent;
    let page: Page;
    const csp: string[] = [];

    beforeAll(async () => {
      [h, browser] = await Promise.all([startAdminHarness(), launchBrowser(SUITE)]);
      const alice = await h.signIn('alice');
      // Agent A holds a refresh grant in alice's session, so the Sessions page lists it.
      const now = Date.now();
      await h.store.saveRefreshToken({
        tokenHash: randomBytes(32).toString('hex'),
        familyId: 'fam-browser',
        sessionId: alice.id,
        clientId: AGENT_A.clientId,
        scopes: ['mcp:tools'],
        resource: h.mcpUrl,
        createdAt: now,
        expiresAt: now + 86_400_000,
      });
      agent = await connectAgent(h, alice);
      // Agent A has called both resources: the audit log (and so the console) knows it.
      expect((await agent.call(TOOL, { query: 'acme' })).isError ?? false).toBe(false);
      expect((await agent.call('calendar_free_slots', { date: '2026-12-01' })).isError ?? false).toBe(false);
      page = await browser.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) csp.push(m.text());
      });
    });
    afterAll(async () => {
      await agent?.close();
      await browser?.close();
      await h?.close();
    });

    const shot = async (name: string) => expect(await browser.screenshot(page, name)).toSatisfy(existsSync);
    const flash = () => page.locator('.flash').first().innerText();
    /** Clicks a submit button and waits for the page the POST redirects to (or re-renders). */
    const submit = async (button: ReturnType<Page['getByRole']>) => {
      await Promise.all([page.waitForEvent('framenavigated'), button.click()]);
      await page.waitForLoadState();
    };
    const decisions = async (tool: string) => {
      await h.gateway.flush();
      return (await h.env.audit()).filter((r) => r.type === 'tool_call' && r.tool === tool && r.phase === 'decision');
    };

    it('alice signs in to the console through the IdP login page', async () => {
      await page.goto(`${h.origin}/admin`);
      expect(new URL(page.url()).origin).toBe(h.env.demo.urls.idp);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('alice-demo-pass');
      await Promise.all([page.waitForURL(`${h.origin}/admin/tools`), page.getByRole('button', { name: 'Sign in' }).click()]);
      await expect(page.locator('h1').innerText()).resolves.toBe('Tools');
      expect(await page.locator('header .who').innerText()).toContain('Signed in as alice@acme.example');
      const row = page.locator(`tr[data-tool="${TOOL}"]`);
      expect(await row.locator('td.scopes').innerText()).toBe('crm.read');
      // The stylesheet applied (allowed by its CSP hash): the header bar is dark, the enabled badge green.
      expect(await page.locator('header.top').evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(23, 32, 43)');
      expect(await row.locator('.badge.on').evaluate((e) => getComputedStyle(e).color)).toBe('rgb(30, 123, 52)');
      await shot('tools');
    });

    it("edits a tool's scopes: an invalid scope is shown next to the field, a valid edit reaches the MCP client", async () => {
      await Promise.all([page.waitForURL(`${h.origin}/admin/tools/${TOOL}`), page.getByRole('link', { name: `Edit ${TOOL}` }).click()]);
      await expect(page.locator('h1').innerText()).resolves.toBe(`Edit tool ${TOOL}`);
      const scopes = page.getByLabel('Scopes');
      expect(await scopes.inputValue()).toBe('crm.read');
      expect(await page.getByLabel('Resource').inputValue()).toBe('crm');
      await shot('tool-edit');

      const index = h.config.current.config.tools.findIndex((t) => t.name === TOOL);
      await scopes.fill('crm.read crm"write');
      await submit(page.getByRole('button', { name: 'Save', exact: true }));
      const error = page.locator('#scopes-error');
      await expect(error.innerText()).resolves.toBe(`tools[${index}].scopes[1]: a scope token has no spaces or quotes (RFC 6749 §3.3)`);
      expect(await scopes.getAttribute('aria-invalid')).toBe('true');
      expect(await scopes.inputValue()).toBe('crm.read crm"write');
      expect(h.config.current.config.tools[index]!.scopes).toEqual(['crm.read']);
      await shot('tool-edit-error');

      const listChangedBefore = agent.listChanged;
      await scopes.fill('crm.read crm.write');
      await page.getByLabel('Description').fill('Finds Acme CRM customers by name or domain (edited in the console).');
      await Promise.all([page.waitForURL(`${h.origin}/admin/tools`), page.getByRole('button', { name: 'Save', exact: true }).click()]);
      expect(await flash()).toBe(`Saved tool "${TOOL}": in force from the next call.`);
      expect(await page.locator(`tr[data-tool="${TOOL}"] td.scopes`).innerText()).toBe('crm.read crm.write');
      await shot('tools-saved');

      // The connected client is told, lists the new description, and its next call asks for the new scopes.
      await until(() => agent.listChanged > listChangedBefore, 'notifications/tools/list_changed');
      const listed = (await agent.client.listTools()).tools.find((t) => t.name === TOOL);
      expect(listed?.description).toBe('Finds Acme CRM customers by name or domain (edited in the console).');
      const result = await agent.call(TOOL, { query: 'acme' });
      expect(result.isError ?? false).toBe(false);
      expect((await decisions(TOOL)).at(-1)).toMatchObject({
        decision: 'allow',
        agent: { clientId: AGENT_A.clientId },
        scopesRequested: ['crm.read', 'crm.write'],
      });
    });

    it("disables agent A's connection to the CRM: its next CRM call is denied with the reason, its calendar calls go on", async () => {
      await Promise.all([page.waitForURL(`${h.origin}/admin/switches`), page.getByRole('link', { name: 'Switches' }).click()]);
      await expect(page.locator('h1').innerText()).resolves.toBe('Kill switches');
      const row = page.locator(`tr[data-agent="${AGENT_A.clientId}"]`);
      expect(await row.locator('.agent-name').innerText()).toBe(AGENT_A.clientName);
      await shot('switches');

      await page.getByLabel(`Reason for ${AGENT_A.clientId}`).fill('agent A leaked CRM data');
      await submit(page.getByRole('button', { name: `Disable connection ${AGENT_A.clientId} → crm`, exact: true }));
      expect(await flash()).toBe(`Disabled connection "${AGENT_A.clientId}" -> "crm": in force from the next call.`);
      expect(await page.getByRole('button', { name: `Enable connection ${AGENT_A.clientId} → crm`, exact: true }).isVisible()).toBe(true);
      const current = page.locator('#current tbody tr');
      expect(await current.count()).toBe(1);
      const cells = await current.first().locator('td').allInnerTexts();
      expect(cells.slice(0, 3)).toEqual(['Connection', `${AGENT_A.clientId} -> crm`, 'agent A leaked CRM data']);
      expect(cells[3]).toMatch(/^(just now|\d+ s ago) by alice@acme\.example$/);
      await shot('switches-connection-off');

      const denied = await agent.call(TOOL, { query: 'acme' });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toContain('[kill_switch]');
      expect(text(denied)).toContain(`kill switch connection "${AGENT_A.clientId}" -> "crm" is set: agent A leaked CRM data`);
      expect((await decisions(TOOL)).at(-1)).toMatchObject({
        decision: 'deny',
        agent: { clientId: AGENT_A.clientId },
        user: { sub: 'u-alice' },
        reason: `kill switch connection "${AGENT_A.clientId}" -> "crm" is set: agent A leaked CRM data`,
        outcome: { ok: false },
      });
      expect((await agent.call('calendar_free_slots', { date: '2026-12-02' })).isError ?? false).toBe(false);
    });

    it('the audit page shows the denial, the chart and a verified chain', async () => {
      await Promise.all([page.waitForURL(`${h.origin}/admin/audit`), page.getByRole('link', { name: 'Audit' }).click()]);
      await page.getByLabel('Outcome').selectOption('denied');
      await page.getByLabel('Agent').fill(AGENT_A.clientId);
      await Promise.all([page.waitForURL(/outcome=denied/), page.getByRole('button', { name: 'Apply' }).click()]);
      const rows = page.locator('table.records tbody tr');
      expect(await rows.count()).toBe(1);
      expect(await rows.first().innerText()).toContain('agent A leaked CRM data');
      expect(await page.locator('.chart g[data-denied="1"]').count()).toBe(1);

      await Promise.all([page.waitForURL(`${h.origin}/admin/audit`), page.getByRole('button', { name: 'Verify the chain now' }).click()]);
      expect(await page.locator('[data-verify="ok"]').innerText()).toMatch(/^Chain OK: \d+ records in 1 file verified /);
      // Unfiltered: the calls before, the denial, and the admin actions, newest first.
      const all = await page.locator('table.records tbody tr').count();
      expect(all).toBeGreaterThan(8);
      expect(await page.locator('.chart g[data-ok]').count()).toBeGreaterThan(10);
      await shot('audit');
    });

    it('the sessions page lists alice with agent A; the connection is enabled again and calls go through; sign out', async () => {
      await Promise.all([page.waitForURL(`${h.origin}/admin/sessions`), page.getByRole('link', { name: 'Sessions' }).click()]);
      const session = page.locator('tr[data-session]').first();
      expect(await session.innerText()).toContain('alice@acme.example');
      expect(await session.innerText()).toContain(AGENT_A.clientName);
      await shot('sessions');

      await page.goto(`${h.origin}/admin/switches#connections`);
      await page.getByLabel(`Reason for ${AGENT_A.clientId}`).fill('investigated: false alarm');
      await submit(page.getByRole('button', { name: `Enable connection ${AGENT_A.clientId} → crm`, exact: true }));
      expect(await flash()).toBe(`Enabled connection "${AGENT_A.clientId}" -> "crm" again.`);
      expect(await page.locator('#current tbody tr').count()).toBe(0);
      expect((await agent.call(TOOL, { query: 'acme' })).isError ?? false).toBe(false);
      const lift = (await h.env.audit()).filter((r) => r.action === 'switch.lift').at(-1);
      expect(lift).toMatchObject({ reason: 'investigated: false alarm', actor: { via: 'session', email: 'alice@acme.example' } });

      // Signing out ends the admin session and lands on a page saying so, in the console's style.
      await Promise.all([page.waitForURL(`${h.origin}/admin/signed-out`), page.getByRole('button', { name: 'Sign out' }).click()]);
      expect((await browser.context.cookies(h.origin)).filter((c) => c.name === 'xaa-admin')).toEqual([]);
      await expect(page.locator('h1').innerText()).resolves.toBe('You are signed out');
      expect(await page.locator('header .who').count()).toBe(0);
      expect(await page.locator('header.top').evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(23, 32, 43)');
      await shot('signed-out');
      // "Sign in again" starts a new sign-in at the IdP.
      await Promise.all([page.waitForURL((u) => u.origin === h.env.demo.urls.idp), page.getByRole('link', { name: 'Sign in again' }).click()]);
      expect(csp).toEqual([]);
    });
  });
}
