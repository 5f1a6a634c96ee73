/**
 * End to end: the upload limit Discord states for the interaction (`attachment_size_limit`, here a tiny
 * 8 KiB) becomes the job's byte budget; the engine shrinks the GIF to fit and the reply says what it gave up.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import sharp from 'sharp';
import { Stack, waitFor } from './harness/stack.ts';

const LIMIT = 8 * 1024;
let stack: Stack;

before(async () => {
  stack = await Stack.start({ attachmentSizeLimit: LIMIT });
});
after(async () => {
  await stack?.stop();
});

it('the GIF fits the stated upload limit and the reductions are listed', async () => {
  const handle = await stack.slash('bob', 'morph', { from: 'a field of tulips', to: 'a city at night', frames: 6, steps: 2, size: 128 });
  const messageId = await waitFor('reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
  const final = await stack.waitForMessage(messageId, 'the result', (m) => m.attachments.length > 0 || m.content.startsWith('❌'), 60_000);
  assert.ok(final.attachments[0], final.content);
  const file = stack.discord.attachment(final.attachments[0].id)!;
  assert.ok(file.data.length <= LIMIT, `${file.data.length} bytes > ${LIMIT}`);
  assert.ok((await sharp(file.data, { animated: true }).metadata()).pages! >= 2);
  const reduced = final.embeds[0]?.fields?.find((f) => f.name.startsWith('Reduced to fit'));
  assert.ok(reduced, JSON.stringify(final.embeds[0]?.fields?.map((f) => f.name)));
  assert.equal(reduced.name, 'Reduced to fit 8 KiB');
  assert.match(reduced.value, /^• /);
  assert.match(final.embeds[0]!.fields!.find((f) => f.name === 'File')!.value, /of 8 KiB allowed/);
});
