// The TypeScript SDK identifying itself with a Client ID Metadata Document
// (no registration): the document is served over https from a loopback
// host on Signet's fetch allow-list, with a certificate from a throwaway
// CA that the Signet process alone is told to trust (SSL_CERT_FILE).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Browser, CALLBACK, MemoryProvider, startSignet } from './support.js';

let signet;
let host;
let documentUrl;
let fetches = 0;

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl. */
function certificates() {
  const dir = mkdtempSync(join(tmpdir(), 'signet-cimd-tls-'));
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=Signet interop test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=127.0.0.1', '-keyout', 'host.key', '-out', 'host.csr');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'host.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '1', '-extfile', 'ext.cnf', '-out', 'host.pem');
  return {
    ca: join(dir, 'ca.pem'),
    key: readFileSync(join(dir, 'host.key')),
    cert: readFileSync(join(dir, 'host.pem')),
  };
}

before(async () => {
  const tls = certificates();
  host = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
    if (request.url !== '/oauth/client-metadata.json') {
      response.writeHead(404).end();
      return;
    }
    fetches += 1;
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    response.end(JSON.stringify({
      client_id: documentUrl,
      client_name: 'TS SDK via metadata document',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }));
  });
  await new Promise((listening) => host.listen(0, '127.0.0.1', listening));
  const { port } = host.address();
  documentUrl = `https://127.0.0.1:${port}/oauth/client-metadata.json`;
  // Only the Signet process trusts the test CA.
  const previous = process.env.SSL_CERT_FILE;
  process.env.SSL_CERT_FILE = tls.ca;
  try {
    signet = await startSignet('--fetch-allow-hosts', `127.0.0.1:${port}`);
  } finally {
    if (previous === undefined) delete process.env.SSL_CERT_FILE;
    else process.env.SSL_CERT_FILE = previous;
  }
});

after(async () => {
  await signet?.stop();
  host?.close();
});

test('the TypeScript SDK configured with a client metadata URL connects without registering', async () => {
  const metadata = await (await fetch(new URL('/.well-known/oauth-authorization-server', signet.base))).json();
  assert.equal(metadata.client_id_metadata_document_supported, true);

  const mcpUrl = new URL('/mcp', signet.base);
  const provider = new MemoryProvider({
    client_name: 'TS SDK via metadata document',
    redirect_uris: [CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  provider.clientMetadataUrl = documentUrl;
  const client = new Client({ name: 'signet-interop-cimd', version: '1.0.0' });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })), UnauthorizedError);
  assert.equal(provider.clientInformation().client_id, documentUrl, 'the SDK used the document URL as its client id');
  assert.equal(new URL(provider.authorizationUrl).searchParams.get('client_id'), documentUrl);

  const callback = new URL(await new Browser(signet.base).consent(provider.authorizationUrl, signet));
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(callback.searchParams.get('code'));
  await client.connect(transport);
  const me = (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent;
  assert.equal(me.connection.client_id, documentUrl);
  assert.equal(me.connection.name, 'TS SDK via metadata document');
  assert.equal(fetches, 1, 'the document was fetched once and cached');

  // Nothing was registered dynamically.
  const clients = JSON.parse(await signet.cli('clients', 'list', '--json'));
  assert.deepEqual(clients.map((c) => c.kind), ['cimd']);
  await client.close();
});
