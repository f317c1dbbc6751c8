// Fields on the page, the whole story: an agent on the TypeScript SDK reads
// create_envelope's schema, places fields by placeholder in a PDF it made
// (Helvetica, not embedded), two people sign in a real browser (Debian's
// Chromium, driven by Playwright) — Alice by keyboard only on a 375 px wide
// screen with a typed signature, Bob with a drawn one — and poppler's
// pdftotext and pdftoppm, independent readers, find each signature, name
// and date on the page where its placeholder was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { connectAgent, pdfOf, startSignet } from './support.js';

const ARTIFACTS = resolve(import.meta.dirname, '../artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ALICE = 'Zoë Ørsted-Łukasz';
const BOB = 'Дмитрий Шостакович';

let signet;
let browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  signet = await startSignet();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await signet?.stop();
});

/** A two-page US Letter PDF in Helvetica with the placeholders in its text. */
function contractPdf() {
  const page = (lines) => {
    const body = lines.map((line, i) => `BT /F1 12 Tf 72 ${720 - 24 * i} Td (${line}) Tj ET`).join('\n');
    return `<< /Length ${body.length} >>\nstream\n${body}\nendstream`;
  };
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 6 0 R >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 7 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    page(['Consulting agreement', 'Consultant: [[name_b]]', 'Date: [[date_b]]']),
    page(['Signed for the client:', '', '[[sig_a]]', 'Signed by the consultant:', '', '[[sig_b]]']),
  ];
  return pdfOf(objects);
}


/** Presses Tab until the focused element matches, as a keyboard user would. */
async function tabTo(page, selector) {
  for (let i = 0; i < 60; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) {
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, 'none', `focus on ${selector} is visible`);
      return;
    }
  }
  throw new Error(`could not reach ${selector} with Tab`);
}

/** Words pdftotext -bbox finds, with their page and box (points from the top-left). */
function words(pdfPath) {
  const html = execFileSync('pdftotext', ['-bbox', pdfPath, '-'], { encoding: 'utf8' });
  const found = [];
  html.split('<page ').slice(1).forEach((chunk, index) => {
    for (const match of chunk.matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g)) {
      found.push({ page: index + 1, xMin: +match[1], yMin: +match[2], xMax: +match[3], yMax: +match[4], text: match[5].replace(/&amp;/g, '&') });
    }
  });
  return found;
}

function textIn(found, box) {
  return found
    .filter((w) => w.page === box.page && w.xMin >= box.left - 0.5 && w.xMax <= box.left + box.width + 0.5 && w.yMin >= box.top - 0.5 && w.yMax <= box.top + box.height + 0.5)
    .map((w) => w.text)
    .filter((t) => !t.startsWith('[['))
    .join(' ');
}

/** Dark pixels inside a box of a page rendered at 72 dpi by pdftoppm (one pixel per point). */
function inkIn(pdfPath, box) {
  const out = join(mkdtempSync(join(tmpdir(), 'signet-ppm-')), 'page');
  execFileSync('pdftoppm', ['-r', '72', '-gray', '-f', String(box.page), '-l', String(box.page), '-singlefile', pdfPath, out]);
  const pgm = readFileSync(`${out}.pgm`);
  const header = pgm.toString('latin1', 0, 40).split(/\s+/);
  const [width, height] = [Number(header[1]), Number(header[2])];
  const start = pgm.length - width * height;
  let dark = 0;
  for (let y = Math.ceil(box.top); y < Math.floor(box.top + box.height); y += 1) {
    for (let x = Math.ceil(box.left); x < Math.floor(box.left + box.width); x += 1) {
      if (pgm[start + y * width + x] < 128) dark += 1;
    }
  }
  return dark;
}

test('an agent places fields from the schema alone, two people sign in a browser, and the PDF shows each where it belongs', async () => {
  const client = await connectAgent(signet, 'Places agent');
  const call = async (name, args) => {
    const result = await client.callTool({ name, arguments: args });
    assert.equal(result.isError, false, `${name}: ${JSON.stringify(result.structuredContent)}`);
    return result.structuredContent;
  };
  const waitFor = async (envelopeId, type) => {
    let after = null;
    for (let i = 0; i < 20; i += 1) {
      const page = await call('list_events', { envelope_id: envelopeId, ...(after ? { after } : {}), wait_seconds: 30 });
      after = page.next_cursor;
      if (page.events.some((event) => event.type === type)) return;
    }
    assert.fail(`no ${type} event`);
  };

  // Everything the agent needs is in the schema.
  const { tools } = await client.listTools();
  const create = tools.find((t) => t.name === 'create_envelope').inputSchema;
  const schema = JSON.stringify(create);
  for (const word of ['places', 'fixed_positions', 'recipient_key', 'capture_as', '[[key]]', 'recipient_completed_date', 'signature_options', 'timezone']) {
    assert.ok(schema.includes(word), `create_envelope's schema describes ${word}`);
  }
  assert.match(tools.find((t) => t.name === 'get_envelope').description, /captures/);

  const upload = await call('mint_upload_url', { filename: 'Consulting.pdf' });
  const put = await fetch(upload.upload_url, { method: 'PUT', headers: upload.headers, body: contractPdf() });
  assert.equal(put.status, 200);
  const created = await call('create_envelope', {
    title: 'Consulting agreement',
    routing: 'sequential',
    documents: [{
      url: upload.url,
      places: [
        { key: 'sig_a', type: 'signature', recipient_key: 'alice' },
        { key: 'name_b', type: 'recipient_name', recipient_key: 'bob' },
        { key: 'date_b', type: 'recipient_completed_date', recipient_key: 'bob' },
        { key: 'sig_b', type: 'signature', recipient_key: 'bob', capture_as: 'consultant_signature' },
      ],
    }],
    recipients: [
      { key: 'alice', name: ALICE, email: 'alice@example.com', signature_options: ['typed'] },
      { key: 'bob', name: BOB, email: 'bob@example.com' },
    ],
  });
  await waitFor(created.envelope_id, 'recipient.sent');
  const linkFor = async (to) => (await call('list_emails', { envelope_id: created.envelope_id })).emails.find((e) => e.to === to && e.kind === 'signing_request').link;

  // Alice: keyboard only, on a phone-sized screen.
  const alice = await browser.newPage({ viewport: { width: 375, height: 812 } });
  await alice.goto(await linkFor('alice@example.com'));
  const overflow = await alice.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the signing page overflows by ${overflow}px at 375 px`);
  assert.equal(await alice.locator('.sheet img').count(), 2, 'both pages are shown');
  assert.equal(await alice.locator('input[name="place.sig_a.mode"][value=drawn]').count(), 0, 'Alice may only type');
  await tabTo(alice, 'a.place.mine');
  await alice.keyboard.press('Enter');
  assert.equal(await alice.evaluate(() => location.hash), '#place-sig_a', 'the box on the page leads to its field');
  await tabTo(alice, '#place-sig_a-typed');
  assert.equal(await alice.evaluate(() => document.activeElement.labels[0].textContent), 'Type your signature');
  await alice.keyboard.type(ALICE);
  await tabTo(alice, 'input[name=consent]');
  await alice.keyboard.press('Space');
  await tabTo(alice, 'button[type=submit]');
  await alice.screenshot({ path: join(ARTIFACTS, 'signing-375.png'), fullPage: true });
  await Promise.all([alice.waitForURL(/\/sign\//), alice.keyboard.press('Enter')]);
  assert.match(await alice.textContent('[role=status]'), /you have signed/);

  // Bob: draws his signature with the mouse.
  const bob = await browser.newPage({ viewport: { width: 1024, height: 900 } });
  await bob.goto(await linkFor('bob@example.com'));
  assert.match(await bob.textContent('.place.other.mark'), new RegExp(ALICE), "Alice's signature is shown, not editable");
  await bob.check('input[name="place.sig_b.mode"][value=drawn]');
  const pad = await bob.locator('#place-sig_b canvas').boundingBox();
  await bob.mouse.move(pad.x + pad.width * 0.1, pad.y + pad.height * 0.6);
  await bob.mouse.down();
  for (let i = 1; i <= 20; i += 1) {
    await bob.mouse.move(pad.x + pad.width * (0.1 + 0.04 * i), pad.y + pad.height * (0.6 - 0.3 * Math.sin(i / 3)));
  }
  await bob.mouse.up();
  await bob.check('input[name=consent]');
  await Promise.all([bob.waitForURL(/\/sign\//), bob.click('button[type=submit]')]);
  assert.match(await bob.textContent('[role=status]'), /you have signed/);

  await waitFor(created.envelope_id, 'deliverable.generated');
  const envelope = await call('get_envelope', { envelope_id: created.envelope_id });
  const places = Object.fromEntries(envelope.documents[0].places.map((p) => [p.key, p]));
  assert.equal(places.sig_a.method, 'typed');
  assert.equal(places.sig_b.method, 'drawn');
  assert.deepEqual(envelope.captures, { consultant_signature: null });
  assert.equal(places.sig_a.boxes[0].page, 2);
  assert.equal(places.name_b.boxes[0].page, 1);

  const { deliverables } = await call('get_deliverables', { envelope_id: created.envelope_id });
  const pdf = Buffer.from(await (await fetch(deliverables[0].download_url)).arrayBuffer());
  const pdfPath = join(mkdtempSync(join(tmpdir(), 'signet-places-')), 'signed.pdf');
  writeFileSync(pdfPath, pdf);
  const found = words(pdfPath);
  assert.equal(textIn(found, places.sig_a.boxes[0]), ALICE);
  assert.equal(textIn(found, places.name_b.boxes[0]), BOB);
  assert.match(textIn(found, places.date_b.boxes[0]), /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(inkIn(pdfPath, places.sig_b.boxes[0]) > 40, "Bob's drawn signature is inked in its box");
  await client.close();
});
