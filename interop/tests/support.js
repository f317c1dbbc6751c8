// A real Signet for the interop tests: the release binary (SIGNET_BIN, else
// ../target/release/signet) on a free loopback port with a fresh database,
// a tiny cookie-keeping browser that fills Signet's forms as a person, and
// an agent on the TypeScript SDK connected through the whole flow.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const run = promisify(execFile);

export const CALLBACK = 'http://127.0.0.1:53682/callback';

/** SIGNET_BIN, else the workspace's release binary, built if absent. */
export function signetBinary() {
  if (process.env.SIGNET_BIN) return process.env.SIGNET_BIN;
  const workspace = resolve(import.meta.dirname, '../..');
  const bin = join(workspace, 'target/release/signet');
  if (!existsSync(bin)) {
    execFileSync('cargo', ['build', '--release', '--bin', 'signet'], { cwd: workspace, stdio: 'inherit' });
  }
  return bin;
}

/** Starts `signet serve` and resolves once its banner says where it is. */
export async function startSignet(...extraArgs) {
  const bin = signetBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'signet-interop-'));
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const banner = {};
  const lines = createInterface({ input: child.stdout });
  await new Promise((ready, failed) => {
    const timer = setTimeout(() => failed(new Error('Signet did not start within 30 s')), 30_000);
    child.on('exit', (code) => failed(new Error(`Signet exited with ${code}`)));
    lines.on('line', (line) => {
      const [key, ...rest] = line.trim().split(/:\s+/);
      if (rest.length) banner[key] = rest.join(': ');
      if (line.startsWith('Connect an MCP client')) {
        clearTimeout(timer);
        ready();
      }
    });
  });
  const base = `http://${banner['Listening on']}`;
  return {
    base,
    email: banner.Email,
    password: banner.Password,
    async cli(...args) {
      const { stdout } = await run(bin, [...args, '--data-dir', dataDir]);
      return stdout.trim();
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((done) => child.on('exit', done));
    },
  };
}

/** A browser that keeps cookies and lets the test follow each redirect. */
export class Browser {
  constructor(base) {
    this.base = base;
    this.cookies = new Map();
  }

  async request(url, init = {}) {
    const target = new URL(url, this.base);
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return response;
  }

  get(url) {
    return this.request(url);
  }

  post(url, form) {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form) });
  }

  /**
   * From an authorization URL to the client's callback URL: sign in if
   * asked, pick an organization (the first unless named), approve.
   */
  async consent(authorizationUrl, { email, password, org } = {}) {
    let response = await this.get(authorizationUrl);
    if (response.status === 303 && response.headers.get('location').startsWith('/login')) {
      const login = await (await this.get(response.headers.get('location'))).text();
      const signedIn = await this.post('/login', [...hiddenInputs(login), ['email', email], ['password', password]]);
      if (signedIn.status !== 303) throw new Error(`sign-in failed: ${signedIn.status}`);
      response = await this.get(signedIn.headers.get('location'));
    }
    if (response.status === 303) return response.headers.get('location');
    if (response.status !== 200) throw new Error(`consent page: ${response.status} ${await response.text()}`);
    const page = await response.text();
    const choice = org ?? page.match(/name="org_id" value="([^"]+)"/)[1];
    const decided = await this.post('/oauth/authorize', [...hiddenInputs(page), ['org_id', choice], ['decision', 'approve']]);
    if (decided.status !== 303) throw new Error(`approval failed: ${decided.status}`);
    return decided.headers.get('location');
  }
}

const entities = { '&#38;': '&', '&amp;': '&', '&#34;': '"', '&quot;': '"', '&#39;': "'", '&#60;': '<', '&#62;': '>' };
const unescape = (text) => text.replace(/&#38;|&amp;|&#34;|&quot;|&#39;|&#60;|&#62;/g, (e) => entities[e]);

/** A PKCE verifier and its S256 challenge. */
export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Registers a client by DCR and returns the registration response. */
export async function register(base, metadata) {
  const response = await fetch(new URL('/oauth/register', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  if (response.status !== 201) throw new Error(`registration: ${response.status} ${await response.text()}`);
  return response.json();
}

/** An authorization URL as a client would build it; `resource` omitted when null. */
export function authorizationUrl(base, { clientId, redirectUri, challenge, resource = `${base}/mcp`, state = 'xyz' }) {
  const url = new URL('/oauth/authorize', base);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  if (resource !== null) url.searchParams.set('resource', resource);
  return url;
}

/** POSTs a form to the token endpoint and returns status and JSON. */
export async function tokenRequest(base, form) {
  const response = await fetch(new URL('/oauth/token', base), { method: 'POST', body: new URLSearchParams(form) });
  return { status: response.status, body: await response.json() };
}

/** The claims of a JWT, unverified (the server verifies; tests only read). */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** Every hidden input of a page, as a browser would submit it. */
export function hiddenInputs(html) {
  return [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map(([, name, value]) => [
    unescape(name),
    unescape(value),
  ]);
}

/** An OAuthClientProvider that keeps everything in memory, as a CLI would. */
export class MemoryProvider {
  constructor(clientMetadata) {
    this._metadata = clientMetadata;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return CALLBACK;
  }
  get clientMetadata() {
    return this._metadata;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier) {
    this._verifier = verifier;
  }
  codeVerifier() {
    return this._verifier;
  }
}

/** A PDF of the given objects (object 1 is the catalog), with a correct cross-reference table. */
export function pdfOf(objects) {
  let body = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const offset = body.length;
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
    return offset;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  body += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/**
 * An agent on the TypeScript SDK's client, connected to `signet` through the
 * whole authorization flow (registration, Ada's sign-in and consent).
 */
export async function connectAgent(signet, clientName) {
  const mcpUrl = new URL('/mcp', signet.base);
  const provider = new MemoryProvider({
    client_name: clientName,
    redirect_uris: [CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  const client = new Client({ name: 'signet-interop-agent', version: '1.0.0' });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })), UnauthorizedError);
  const callback = new URL(await new Browser(signet.base).consent(provider.authorizationUrl, signet));
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(callback.searchParams.get('code'));
  await client.connect(transport);
  return client;
}
