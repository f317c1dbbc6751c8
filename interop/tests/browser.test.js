// Signet's pages in a real browser (Debian's Chromium, driven by
// Playwright): sign in, consent as a user of two organizations picking the
// second, whoami shows it, Settings → Applications shows the connection
// with last seen and call count, rename, disconnect through the
// confirmation step, and the client's next call is refused. Every page is
// also used with the keyboard only and checked at a 375 px wide viewport.
// Screenshots go to interop/artifacts/ (ignored by git).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { CALLBACK, authorizationUrl, pkce, register, startSignet, tokenRequest } from './support.js';

const ARTIFACTS = resolve(import.meta.dirname, '../artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let signet;
let browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  signet = await startSignet();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // Playwright gives every launch a fresh, temporary user-data directory.
  });
});
after(async () => {
  await browser?.close();
  await signet?.stop();
});

async function whoami(token) {
  const response = await fetch(new URL('/mcp', signet.base), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  });
  return { status: response.status, body: await response.json() };
}

/** Presses Tab until the focused element matches, as a keyboard user would. */
async function tabTo(page, predicate, description) {
  for (let i = 0; i < 25; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(predicate)) return;
  }
  throw new Error(`could not reach ${description} with Tab`);
}

/** The page fits a 375 px wide screen: nothing scrolls sideways. */
async function fitsNarrowScreen(page, name) {
  await page.setViewportSize({ width: 375, height: 812 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name} overflows by ${overflow}px at 375 px`);
  await page.screenshot({ path: join(ARTIFACTS, `${name}-375.png`), fullPage: true });
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('sign in, consent for the second organization, manage and disconnect the application', async () => {
  await signet.cli('org', 'add', '--name', 'Second Org', '--owner', signet.email);
  const second = JSON.parse(await signet.cli('account', 'link', '--org', 'Second Org', '--json')).org_id;
  const client = await register(signet.base, { client_name: 'Browser Agent', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
  const { verifier, challenge } = pkce();
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  // The client's loopback callback, as a native app would listen for it.
  let callback;
  const listener = createServer((request, response) => {
    // Only the redirect itself; the browser also asks for /favicon.ico.
    const url = new URL(request.url, CALLBACK);
    if (url.pathname === new URL(CALLBACK).pathname) callback = url;
    response.end('You may close this window.');
  });
  await new Promise((ready) => listener.listen(Number(new URL(CALLBACK).port), '127.0.0.1', ready));

  // Sign in with the keyboard only: the email field has focus on load.
  await page.goto(authorizationUrl(signet.base, { clientId: client.client_id, redirectUri: CALLBACK, challenge }).href);
  assert.match(page.url(), /\/login\?/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'email');
  await fitsNarrowScreen(page, 'sign-in');
  await page.keyboard.type(signet.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(signet.password);
  await page.keyboard.press('Enter');

  // Consent: the client, its redirect host, both organizations.
  await page.waitForSelector('text=Browser Agent');
  assert.match(page.url(), /\/oauth\/authorize\?/);
  assert.equal(await page.locator('.host').innerText(), '127.0.0.1');
  assert.equal(await page.locator('input[name=org_id]').count(), 2);
  await fitsNarrowScreen(page, 'consent');
  // Pick the second organization and approve, keyboard only.
  await tabTo(page, () => document.activeElement?.name === 'org_id', 'the organization choice');
  await page.keyboard.press('Space');
  const secondRadio = page.locator(`input[name=org_id][value="${second}"]`);
  if (!(await secondRadio.isChecked())) await page.keyboard.press('ArrowDown');
  assert.ok(await secondRadio.isChecked(), 'the second organization is chosen');
  await tabTo(page, () => document.activeElement?.value === 'approve', 'Approve');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${CALLBACK}**`);
  listener.close();
  assert.equal(callback.searchParams.get('iss'), signet.base);

  const { status, body: tokens } = await tokenRequest(signet.base, {
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code'),
    redirect_uri: CALLBACK,
    code_verifier: verifier,
    client_id: client.client_id,
  });
  assert.equal(status, 200);
  const me = await whoami(tokens.access_token);
  assert.equal(me.body.result.structuredContent.organization_id, second, 'whoami shows the chosen organization');
  await whoami(tokens.access_token);

  // Settings → Applications: last seen and call count, rename, disconnect.
  await page.goto(`${signet.base}/settings/applications?org=${second}`);
  const card = page.locator('section.conn').first();
  assert.match(await card.innerText(), /Browser Agent/);
  assert.match(await card.locator('dt:text("Calls") + dd').innerText(), /^2$/);
  assert.match(await card.locator('dt:text("Last seen") + dd').innerText(), /^\d{4}-\d\d-\d\dT/);
  await fitsNarrowScreen(page, 'applications');
  // Rename with the keyboard; a bad name is refused next to the field.
  await tabTo(page, () => document.activeElement?.name === 'name', 'the name field');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('   ');
  await page.keyboard.press('Enter');
  const fieldError = page.locator('section.conn .field-error').first();
  await fieldError.waitFor();
  assert.match(await fieldError.innerText(), /1 to 100 characters/);
  const describedBy = await page.locator('input[name=name]').first().getAttribute('aria-describedby');
  assert.equal(describedBy, await fieldError.getAttribute('id'), 'the error is tied to its field');
  await tabTo(page, () => document.activeElement?.name === 'name', 'the name field');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('  My research agent  ');
  await page.keyboard.press('Enter');
  await page.waitForSelector('text=The connection was renamed.');
  assert.match(await page.locator('section.conn h2').first().innerText(), /^My research agent/);

  await tabTo(page, () => document.activeElement?.textContent?.startsWith('Disconnect'), 'Disconnect');
  await page.keyboard.press('Enter');
  await page.waitForSelector('h1:text("Disconnect My research agent?")');
  await fitsNarrowScreen(page, 'disconnect');
  await tabTo(page, () => document.activeElement?.tagName === 'BUTTON', 'the Disconnect button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('text=The application was disconnected.');
  assert.match(await page.locator('section.conn').first().innerText(), /Disconnected/);

  const refused = await whoami(tokens.access_token);
  assert.equal(refused.status, 401);
  assert.deepEqual(refused.body, { error: 'invalid_token', error_description: 'Application has been disconnected' });
  await context.close();
});

test('every page has a visible focus ring and labelled fields', async () => {
  const page = await browser.newPage();
  await page.goto(`${signet.base}/login`);
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'focus is visible');
  for (const id of ['email', 'password']) {
    assert.equal(await page.locator(`label[for=${id}]`).count(), 1, `${id} has a label`);
  }
  await page.close();
});

test('a decision written into the authorization URL cannot approve for a person who denies', async () => {
  // The attacker's link says "approve for the first organization"; the
  // person picks another one and presses Deny.
  const orgs = JSON.parse(await signet.cli('org', 'list', '--json'));
  await signet.cli('org', 'add', '--name', 'Deny Org', '--owner', signet.email);
  const chosen = JSON.parse(await signet.cli('account', 'link', '--org', 'Deny Org', '--json')).org_id;
  const forgedOrg = orgs[0].id;
  const client = await register(signet.base, { client_name: 'Forging Agent', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
  const { challenge } = pkce();
  const url = authorizationUrl(signet.base, { clientId: client.client_id, redirectUri: CALLBACK, challenge });
  url.searchParams.set('decision', 'approve');
  url.searchParams.set('org_id', forgedOrg);
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  let callback;
  const listener = createServer((request, response) => {
    const received = new URL(request.url, CALLBACK);
    if (received.pathname === new URL(CALLBACK).pathname) callback = received;
    response.end('You may close this window.');
  });
  await new Promise((ready) => listener.listen(Number(new URL(CALLBACK).port), '127.0.0.1', ready));
  try {
    await page.goto(url.href);
    await page.fill('#email', signet.email);
    await page.fill('#password', signet.password);
    await page.press('#password', 'Enter');
    await page.waitForSelector('text=Forging Agent');
    const carried = await page.locator('form input[type=hidden]').evaluateAll((inputs) => inputs.map((i) => i.name));
    assert.ok(!carried.includes('decision') && !carried.includes('org_id'), `hidden inputs: ${carried}`);
    await page.locator(`input[name=org_id][value="${chosen}"]`).check();
    await page.locator('button[value=deny]').click();
    await page.waitForURL(`${CALLBACK}**`);
  } finally {
    listener.close();
    await context.close();
  }
  assert.equal(callback.searchParams.get('error'), 'access_denied');
  assert.equal(callback.searchParams.get('code'), null, 'no code for a denial');
});
