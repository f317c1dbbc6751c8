// The agent story with the TypeScript SDK's client: upload a PDF through
// mint_upload_url, create and send an envelope in test mode, read the
// signing link from the outbox, sign on the signing page, wait on
// list_events for the deliverable, and download it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectAgent, pdfOf, startSignet } from './support.js';

let signet;
before(async () => {
  signet = await startSignet();
});
after(async () => {
  await signet?.stop();
});

/** A one-page PDF. */
function onePagePdf() {
  return pdfOf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>',
  ]);
}


test('an agent on the TypeScript SDK sends a document for signature and fetches the signed PDF', async () => {
  const client = await connectAgent(signet, 'TS SDK agent');
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

  const { tools } = await client.listTools();
  assert.equal(tools.length, 13, 'the SDK accepts every tool definition');

  // Upload through the signed PUT URL.
  const upload = await call('mint_upload_url', { filename: 'Offer.pdf' });
  const put = await fetch(upload.upload_url, { method: 'PUT', headers: upload.headers, body: onePagePdf() });
  assert.equal(put.status, 200);

  const created = await call('create_envelope', {
    title: 'Offer letter',
    documents: [{ url: upload.url, name: 'Offer.pdf' }],
    recipients: [{ key: 'candidate', name: 'Grace Hopper', email: 'grace@example.com' }],
  });
  assert.equal(created.status, 'processing');
  await waitFor(created.envelope_id, 'recipient.sent');

  // A mistake is a tool result the agent can read, not a protocol error.
  const refused = await client.callTool({ name: 'cancel_envelope', arguments: { envelope_id: 'no-such-envelope' } });
  assert.equal(refused.isError, true);
  assert.equal(refused.structuredContent.type, 'not-found');

  const { emails } = await call('list_emails', { envelope_id: created.envelope_id });
  assert.equal(emails.length, 1);
  const link = emails[0].link;
  const page = await fetch(link);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Offer letter/);
  const signedAt = performance.now();
  const signed = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ action: 'sign', signature: 'Grace Hopper', consent: 'yes' }),
    redirect: 'manual',
  });
  assert.equal(signed.status, 303);

  await waitFor(created.envelope_id, 'deliverable.generated');
  console.log(`signature to deliverable.generated (seen by the agent): ${(performance.now() - signedAt).toFixed(1)} ms`);
  const envelope = await call('get_envelope', { envelope_id: created.envelope_id });
  assert.equal(envelope.status, 'completed');
  const { deliverables } = await call('get_deliverables', { envelope_id: created.envelope_id });
  const pdf = await fetch(deliverables[0].download_url);
  assert.equal(pdf.status, 200);
  assert.equal(pdf.headers.get('content-type'), 'application/pdf');
  const bytes = Buffer.from(await pdf.arrayBuffer());
  assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.equal(bytes.length, deliverables[0].size_bytes);

  // The envelope is also a resource.
  const resource = await client.readResource({ uri: `signet://envelope/${created.envelope_id}` });
  assert.equal(JSON.parse(resource.contents[0].text).status, 'completed');
  await client.close();
});
