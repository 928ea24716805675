/** The IdP's sign-in page. The authorization request travels in hidden fields, so the page is stateless. */

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

export function renderLoginPage(opts: { request: URLSearchParams; clientId: string; error?: string; username?: string }): string {
  const hidden = [...opts.request]
    .filter(([k]) => k !== 'username' && k !== 'password')
    .map(([k, v]) => `    <input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
  const error = opts.error ? `  <p class="error" role="alert">${esc(opts.error)}</p>\n` : '';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Acme IdP - sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto}label{display:block;margin:.6rem 0}
input[type=text],input[type=password]{width:100%;padding:.4rem}.error{color:#b00020}button{padding:.5rem 1.2rem}</style></head>
<body>
  <h1>Acme IdP</h1>
  <p>Sign in to continue to <strong>${esc(opts.clientId)}</strong>.</p>
${error}  <form method="post" action="/authorize">
${hidden}
    <label>Username <input type="text" name="username" autocomplete="username" value="${esc(opts.username ?? '')}" required></label>
    <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</body>
</html>
`;
}

export function renderErrorPage(message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme IdP - error</title></head>
<body><h1>Sign-in request refused</h1><p class="error">${esc(message)}</p></body></html>
`;
}
