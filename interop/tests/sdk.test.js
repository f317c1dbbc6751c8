// The TypeScript MCP SDK's own client, end to end, once per client
// authentication method: discovery from the 401, registration, PKCE, the
// forms, the callback, tools/call, refresh with rotation, and the seed's
// message after a disconnect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Browser, CALLBACK, MemoryProvider, startSignet } from './support.js';

let signet;
before(async () => {
  signet = await startSignet();
});
after(async () => {
  await signet?.stop();
});

for (const method of ['none', 'client_secret_basic', 'client_secret_post']) {
  test(`the TypeScript SDK connects with ${method}, refreshes, and is disconnected`, async () => {
    const mcpUrl = new URL('/mcp', signet.base);
    const provider = new MemoryProvider({
      client_name: `TS SDK (${method})`,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: method,
    });
    const client = new Client({ name: 'signet-interop', version: '1.0.0' });

    // The first connection meets the 401 and starts authorization.
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })), UnauthorizedError);
    assert.ok(provider.authorizationUrl, 'the SDK asked for the user to authorize');
    assert.equal(provider.clientInformation().token_endpoint_auth_method, method);
    assert.equal(Boolean(provider.clientInformation().client_secret), method !== 'none');

    const callback = new URL(await new Browser(signet.base).consent(provider.authorizationUrl, signet));
    assert.equal(callback.searchParams.get('iss'), signet.base, 'iss is the issuer, byte for byte');
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await transport.finishAuth(callback.searchParams.get('code'));
    await client.connect(transport);

    const tools = await client.listTools();
    assert.ok(tools.tools.some((tool) => tool.name === 'whoami'));
    const me = (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent;
    assert.match(me.organization_id, /^org_/);
    assert.equal(me.connection.name, `TS SDK (${method})`);
    assert.equal(me.account.status, 'active');

    // A refresh rotates the refresh token, and the new access token works.
    const before = provider.tokens();
    assert.equal(await auth(provider, { serverUrl: mcpUrl }), 'AUTHORIZED');
    assert.notEqual(provider.tokens().refresh_token, before.refresh_token);
    assert.notEqual(provider.tokens().access_token, before.access_token);
    assert.equal((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent.connection.id, me.connection.id);

    // Disconnected from the CLI: the next call is refused with the seed's message.
    await signet.cli('connections', 'revoke', me.connection.id);
    await assert.rejects(client.callTool({ name: 'whoami', arguments: {} }));
    const refused = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.tokens().access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    });
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { error: 'invalid_token', error_description: 'Application has been disconnected' });
    assert.match(refused.headers.get('www-authenticate'), /error_description="Application has been disconnected"/);
    await client.close();
  });
}
