/**
 * Drives the demo IdP's sign-in page over HTTP, as a browser would: GET the authorization URL,
 * POST the form (hidden fields + username/password), and return the redirect Location (the
 * client's redirect_uri with ?code=&state=) without following it.
 */
export async function completeDemoLogin(authorizeUrl: string, username: string, password: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  const page = await fetchImpl(authorizeUrl, { redirect: 'manual' });
  if (page.status === 302 || page.status === 303) {
    // An invalid request that the IdP could redirect (e.g. missing PKCE) comes back as an error redirect.
    return absolute(page.headers.get('location'), authorizeUrl);
  }
  const html = await page.text();
  if (page.status !== 200) throw new Error(`IdP /authorize answered ${page.status}: ${textOf(html)}`);
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error('IdP login page has no form');
  const body = new URLSearchParams();
  for (const m of form[2]!.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    body.append(unescapeHtml(m[1]!), unescapeHtml(m[2]!));
  }
  body.set('username', username);
  body.set('password', password);
  const res = await fetchImpl(new URL(unescapeHtml(form[1]!), authorizeUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
  });
  if (res.status !== 302 && res.status !== 303) {
    throw new Error(`IdP sign-in failed (${res.status}): ${textOf(await res.text())}`);
  }
  return absolute(res.headers.get('location'), authorizeUrl);
}

function absolute(location: string | null, base: string): string {
  if (!location) throw new Error('IdP redirect without Location');
  return new URL(location, base).toString();
}

function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
}

/** The error paragraph of a page, else its text, for a readable exception. */
function textOf(html: string): string {
  const err = /<p class="error"[^>]*>([\s\S]*?)<\/p>/.exec(html)?.[1];
  return unescapeHtml((err ?? html.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim()).slice(0, 300);
}
