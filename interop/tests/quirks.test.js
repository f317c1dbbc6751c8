// What real clients send that the specifications do not quite say, one test
// each (DESIGN §6).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Browser, authorizationUrl, jwtClaims, pkce, register, startSignet, tokenRequest } from './support.js';

const INSPECTOR = 'http://localhost:6274';
let signet;
before(async () => {
  signet = await startSignet('--allowed-origins', INSPECTOR);
});
after(async () => {
  await signet?.stop();
});

/** Authorizes `client` for `redirectUri` and exchanges the code. */
async function connect(client, redirectUri, { resource } = {}) {
  const { verifier, challenge } = pkce();
  const url = authorizationUrl(signet.base, { clientId: client.client_id, redirectUri, challenge, resource });
  const callback = new URL(await new Browser(signet.base).consent(url, signet));
  const { status, body } = await tokenRequest(signet.base, {
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code'),
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: client.client_id,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return { callback, tokens: body };
}

test('Cursor registers three redirect URIs at once, one of them cursor://', async () => {
  const redirects = ['cursor://anysphere.cursor-retrieval/oauth/user-callback', 'https://cursor.com/oauth/callback', 'http://localhost:61234/callback'];
  const client = await register(signet.base, { client_name: 'Cursor', redirect_uris: redirects, token_endpoint_auth_method: 'none' });
  assert.deepEqual(client.redirect_uris, redirects);
  const { callback } = await connect(client, redirects[0]);
  assert.equal(callback.protocol, 'cursor:');
  assert.equal(callback.searchParams.get('iss'), signet.base);
});

test('VS Code registers a loopback redirect on one port and uses another', async () => {
  const client = await register(signet.base, {
    client_name: 'Visual Studio Code',
    redirect_uris: ['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'],
    token_endpoint_auth_method: 'none',
  });
  const { callback } = await connect(client, 'http://127.0.0.1:50321/');
  assert.equal(callback.port, '50321');
});

test('Claude Code omits resource, or sends the origin with a slash', async () => {
  const client = await register(signet.base, {
    client_name: 'Claude Code',
    redirect_uris: ['http://localhost:45454/callback'],
    token_endpoint_auth_method: 'none',
  });
  for (const resource of [null, `${signet.base}/`]) {
    const { tokens } = await connect(client, 'http://localhost:45454/callback', { resource });
    assert.equal(jwtClaims(tokens.access_token).aud, `${signet.base}/mcp`, `resource ${resource}`);
  }
});

test("claude.ai's two callback hosts both work", async () => {
  const hosts = ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'];
  const client = await register(signet.base, { client_name: 'Claude', redirect_uris: hosts });
  assert.ok(client.client_secret, 'an omitted auth method means client_secret_basic');
  for (const redirect of hosts) {
    const { verifier, challenge } = pkce();
    const url = authorizationUrl(signet.base, { clientId: client.client_id, redirectUri: redirect, challenge });
    const callback = new URL(await new Browser(signet.base).consent(url, signet));
    assert.equal(`${callback.origin}${callback.pathname}`, redirect);
    const basic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64');
    const response = await fetch(new URL('/oauth/token', signet.base), {
      method: 'POST',
      headers: { authorization: `Basic ${basic}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code'), redirect_uri: redirect, code_verifier: verifier }),
    });
    assert.equal(response.status, 200);
  }
});

test('two processes refreshing one token at once both succeed with the same successor', async () => {
  const client = await register(signet.base, { client_name: 'Racer', redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' });
  const { tokens } = await connect(client, 'http://127.0.0.1:9999/cb');
  const refresh = () => tokenRequest(signet.base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id });
  const [a, b] = await Promise.all([refresh(), refresh()]);
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(b.status, 200, JSON.stringify(b.body));
  assert.equal(a.body.refresh_token, b.body.refresh_token);
});

test('a browser-based client gets CORS on register, token and /mcp, and can read WWW-Authenticate', async () => {
  for (const path of ['/oauth/register', '/oauth/token', '/mcp']) {
    const preflight = await fetch(new URL(path, signet.base), {
      method: 'OPTIONS',
      headers: { origin: INSPECTOR, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' },
    });
    assert.equal(preflight.status, 200, path);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*', path);
    assert.match(preflight.headers.get('access-control-allow-headers'), /authorization/, path);
  }
  const unauthorized = await fetch(new URL('/mcp', signet.base), {
    method: 'POST',
    headers: { origin: INSPECTOR, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  });
  assert.equal(unauthorized.status, 401);
  assert.match(unauthorized.headers.get('access-control-expose-headers'), /www-authenticate/i);
  assert.match(unauthorized.headers.get('www-authenticate'), /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
});
