/**
 * Video output benchmark: bytes, PSNR and encode time of MP4 (H.264, several quantizers) and animated WebP
 * (several qualities) against the project's GIF, on 64 frames of 512x512.
 *
 *   node --import tsx bench/video.ts [--frames 64] [--size 512] [--source synthetic|model] [--qp 16,20,24,28,32] [--no-webp]
 *
 * MP4 rows: the automatic quantizer (encodeMp4Auto, what renders use) and each `--qp` given.
 *
 * Sources: `synthetic` (default) is bench/gif.ts's deterministic smooth walk (soft colour regions, shading and
 * fine texture cross-fading through five keyframes): 512x512 renders of a real model are out of reach on
 * 2 CPU cores. `model` renders a 64-frame morph of shapes prompts with the bundled shapes model (named, not the
 * default pack) at its 64x64 and upscales it to the size with lanczos3 (smooth, few details: flattering to every
 * codec).
 * PSNR: every frame decoded (GIF and WebP with sharp, MP4 with tinyh264) against its source, all RGB channels.
 * Timing is one encode each, wall clock, on whatever else the machine is doing.
 */
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { RgbFrame } from '../src/engine/frames.ts';
import { encodeGif } from '../src/engine/output/gif.ts';
import { encodeMp4, encodeMp4Auto } from '../src/engine/output/mp4.ts';
import { resizeFrames } from '../src/engine/output/resize.ts';
import { DEFAULT_WEBP_QUALITY, encodeWebp } from '../src/engine/output/webp.ts';
import { decodeMp4, framesPsnr } from '../test/harness/mp4.ts';
import { gifPsnr, syntheticWalkFrames } from './gif.ts';

export interface VideoBenchRow {
  name: string;
  bytes: number;
  psnr: number;
  encodeMs: number;
  isDefault: boolean;
}

async function modelFrames(count: number, size: number): Promise<RgbFrame[]> {
  const { loadModel, render } = await import('../src/engine/index.ts');
  const model = await loadModel('shapes');
  try {
    const { frames } = await render(model, { kind: 'morph', prompts: ['a big red circle on a white background', 'a small blue square on a yellow background'], frames: count }, { seed: 42 });
    return resizeFrames(frames, size, size, 'lanczos3');
  } finally {
    await model.dispose();
  }
}

async function webpPsnr(bytes: Uint8Array, frames: readonly RgbFrame[]): Promise<number> {
  const { data, info } = await sharp(bytes, { animated: true, limitInputPixels: false }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = frames[0]!.width * frames[0]!.height * info.channels;
  const decoded = frames.map((f, k) => ({ width: f.width, height: f.height, data: new Uint8Array(data.buffer, data.byteOffset + k * n, n) }));
  return framesPsnr(decoded, frames);
}

export interface VideoBenchOptions {
  frames?: number;
  size?: number;
  source?: 'synthetic' | 'model';
  /** Fixed MP4 quantizers to compare with the automatic one. */
  qps?: readonly number[];
  webp?: boolean;
  log?: (line: string) => void;
}

export async function runVideoBench(options: VideoBenchOptions = {}): Promise<VideoBenchRow[]> {
  const { frames: count = 64, size = 512, source = 'synthetic', qps = [16, 20, 24, 28, 32], webp: withWebp = true, log = () => {} } = options;
  log(`${source} frames: ${count} of ${size}x${size}...`);
  const frames = source === 'model' ? await modelFrames(count, size) : syntheticWalkFrames(count, size);
  const fps = 10;
  const rows: VideoBenchRow[] = [];
  const time = async <T>(fn: () => T | Promise<T>): Promise<[T, number]> => {
    const t = performance.now();
    const value = await fn();
    return [value, performance.now() - t];
  };

  const [gif, gifMs] = await time(() => encodeGif(frames, { fps }));
  rows.push({ name: 'GIF (encodeGif, 256 colours)', bytes: gif.bytes.length, psnr: await gifPsnr(gif.bytes, frames), encodeMs: gifMs, isDefault: true });
  log('GIF done');
  const [auto, autoMs] = await time(() => encodeMp4Auto(frames, { fps }));
  rows.push({ name: `MP4 H.264 baseline, automatic qp (${auto.qp})`, bytes: auto.bytes.length, psnr: framesPsnr(await decodeMp4(auto.bytes), frames), encodeMs: autoMs, isDefault: true });
  log(`MP4 automatic qp (${auto.qp}) done`);
  for (const qp of qps) {
    const [mp4, ms] = await time(() => encodeMp4(frames, { fps, qp }));
    const decoded = await decodeMp4(mp4.bytes);
    rows.push({ name: `MP4 H.264 baseline, qp ${qp}`, bytes: mp4.bytes.length, psnr: framesPsnr(decoded, frames), encodeMs: ms, isDefault: false });
    log(`MP4 qp ${qp} done`);
  }
  for (const quality of withWebp ? [70, DEFAULT_WEBP_QUALITY, 90] : []) {
    const [webp, ms] = await time(() => encodeWebp(frames, { fps, quality }));
    rows.push({ name: `WebP lossy, quality ${quality}`, bytes: webp.bytes.length, psnr: await webpPsnr(webp.bytes, frames), encodeMs: ms, isDefault: quality === DEFAULT_WEBP_QUALITY });
    log(`WebP q ${quality} done`);
  }
  return rows;
}

export function formatVideoBench(rows: readonly VideoBenchRow[]): string {
  const gif = rows[0]!;
  const lines = ['| encoder | size | GIF / size | PSNR | vs GIF | encode time |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const name = r.isDefault ? `**${r.name}** (default)` : r.name;
    const diff = r.psnr - gif.psnr;
    lines.push(
      `| ${name} | ${(r.bytes / 1024).toFixed(0)} KiB | ${(gif.bytes / r.bytes).toFixed(2)}x | ${r.psnr.toFixed(2)} dB | ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} dB | ${(r.encodeMs / 1000).toFixed(2)} s |`,
    );
  }
  return lines.join('\n');
}

/**
 * The goal: an MP4 at least 4x smaller than the GIF at equal or better PSNR. Reported for the default
 * (automatic) quantizer and for the smallest MP4 row that matches the GIF's PSNR.
 */
export function videoBenchVerdict(rows: readonly VideoBenchRow[]): string[] {
  const gif = rows[0]!;
  const mp4s = rows.filter((r) => r.name.startsWith('MP4'));
  const line = (label: string, r: VideoBenchRow) => {
    const ratio = gif.bytes / r.bytes;
    const ok = ratio >= 4 && r.psnr >= gif.psnr;
    return `${ok ? 'PASS' : 'FAIL'} ${label} (${r.name}) is ${ratio.toFixed(2)}x smaller than the GIF (goal >= 4x) at ${r.psnr.toFixed(2)} dB vs ${gif.psnr.toFixed(2)} dB (goal: equal or better)`;
  };
  const lines: string[] = [];
  const def = mp4s.find((r) => r.isDefault);
  if (def) lines.push(line('default MP4', def));
  const matching = mp4s.filter((r) => r.psnr >= gif.psnr).sort((a, b) => a.bytes - b.bytes)[0];
  lines.push(matching ? line('smallest MP4 at the GIF\'s PSNR or better', matching) : 'FAIL no MP4 row reaches the GIF\'s PSNR');
  return lines;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const source = argValue('source') ?? 'synthetic';
  if (source !== 'synthetic' && source !== 'model') throw new Error(`--source must be synthetic or model, got ${source}`);
  const qpArg = argValue('qp');
  const qpList = qpArg === undefined ? undefined : qpArg === '' ? [] : qpArg.split(',').map(Number);
  if (qpList?.some((q) => !Number.isInteger(q) || q < 10 || q > 51)) throw new Error(`--qp takes quantizers 10..51 separated by commas, got ${qpArg}`);
  const rows = await runVideoBench({
    frames: Number(argValue('frames') ?? 64),
    size: Number(argValue('size') ?? 512),
    source,
    ...(qpList === undefined ? {} : { qps: qpList }),
    webp: !process.argv.includes('--no-webp'),
    log: (l) => console.error(l),
  });
  console.log(formatVideoBench(rows));
  for (const line of videoBenchVerdict(rows)) console.log(line);
}
