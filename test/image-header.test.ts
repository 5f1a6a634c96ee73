/** The bot's header sniffing (no decoding): format, size and animation of PNG, APNG, JPEG, GIF and WebP files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { readImageHeader } from '../src/jobs/imageHeader.ts';

const still = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#123456' } });
const animated = (w: number, h: number) => {
  const frames = Buffer.alloc(w * h * 3 * 2);
  frames.fill(200, w * h * 3);
  return sharp(frames, { raw: { width: w, height: h * 2, channels: 3, pageHeight: h } });
};

describe('readImageHeader', () => {
  it('reads still images', async () => {
    assert.deepEqual(readImageHeader(await still(31, 17).png().toBuffer()), { format: 'png', width: 31, height: 17, animated: false });
    assert.deepEqual(readImageHeader(await still(31, 17).jpeg().toBuffer()), { format: 'jpeg', width: 31, height: 17, animated: false });
    assert.deepEqual(readImageHeader(await still(31, 17).gif().toBuffer()), { format: 'gif', width: 31, height: 17, animated: false });
    assert.deepEqual(readImageHeader(await still(31, 17).webp().toBuffer()), { format: 'webp', width: 31, height: 17, animated: false });
    assert.deepEqual(readImageHeader(await still(31, 17).webp({ lossless: true }).toBuffer()), { format: 'webp', width: 31, height: 17, animated: false });
  });

  it('tells animations apart', async () => {
    assert.equal(readImageHeader(await animated(20, 10).gif({ delay: [100, 100] }).toBuffer())?.animated, true);
    assert.equal(readImageHeader(await animated(20, 10).webp({ delay: [100, 100] }).toBuffer())?.animated, true);
    // An APNG: an acTL chunk before the first IDAT (the CRC is not checked by a sniffer).
    const png = await still(8, 8).png().toBuffer();
    const acTL = Buffer.concat([Buffer.from([0, 0, 0, 8]), Buffer.from('acTL', 'latin1'), Buffer.alloc(8), Buffer.alloc(4)]);
    const apng = Buffer.concat([png.subarray(0, 33), acTL, png.subarray(33)]);
    assert.deepEqual(readImageHeader(apng), { format: 'png', width: 8, height: 8, animated: true });
  });

  it('returns undefined for anything else', () => {
    assert.equal(readImageHeader(Buffer.from('hello world, not an image at all')), undefined);
    assert.equal(readImageHeader(new Uint8Array(0)), undefined);
    assert.equal(readImageHeader(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), undefined);
  });
});
