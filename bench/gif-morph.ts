/**
 * GIF bytes of `off` and `blend` morphs at equal quality: is a flowing morph's larger GIF the encoder's
 * settings or the content? Every morph is rendered both ways and encoded as the bot posts it (display scale,
 * rubber band) at several palette sizes and tolerances; each GIF is decoded (sharp) and compared with its
 * frames (PSNR).
 * `blend` is then read at the PSNR of `off`'s default encode (log-bytes interpolated along the best encodes).
 * Also printed: how the change between frames is spread (total change over the end-to-end change, and the
 * share of pixel changes big enough to cross palette colours), which is what a GIF pays for.
 *
 *   npm run bench:gif-morph [-- --model NAME|DIR] [--frames N] [--seed N]
 */
import { parseArgs } from 'node:util';
import { loadModel, render, type RgbFrame, type SmoothMode } from '../src/engine/index.ts';
import { DEFAULT_TOLERANCE, encodeGif, pingPongOrder, resizeFrames } from '../src/engine/output/index.ts';
import { gifPsnr } from './gif.ts';

const TOLERANCES = [0, DEFAULT_TOLERANCE, 2, 4] as const;
const COLOURS = [256, 128, 64] as const;
/** Emoji pairs for the default pack; shapes pairs (the issue's snapping ones) for `--model shapes`. */
const MORPHS: Record<string, readonly (readonly [string, string])[]> = {
  emoji: [
    ['a dog', 'a cat'],
    ['pizza', 'a rocket'],
    ['the sun', 'the moon'],
    ['a red apple', 'a banana'],
  ],
  shapes: [
    ['a red circle', 'a blue square'],
    ['a big yellow star', 'a small green triangle, top left'],
    ['a purple ring on a black background', 'an orange square on a gray background'],
  ],
};
/** A pixel change (|dR|+|dG|+|dB|) above this mostly lands on another palette colour: the GIF re-sends the pixel. */
const VISIBLE_CHANGE = 6;

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'emoji' }, frames: { type: 'string' }, seed: { type: 'string', default: '42' } },
});
const model = await loadModel(values.model);
const frames = values.frames === undefined ? model.defaults.frames : Number(values.frames);
const seed = Number(values.seed);
const morphs = MORPHS[values.model] ?? MORPHS.emoji!;

interface Point {
  colours: number;
  tolerance: number;
  bytes: number;
  psnr: number;
}

/** Total change per pixel over the end-to-end change, and the share of pixel changes above VISIBLE_CHANGE. */
function spread(fs: readonly RgbFrame[]): { travel: number; visible: number } {
  const a = fs[0]!.data;
  const z = fs.at(-1)!.data;
  let ends = 0;
  let total = 0;
  let visible = 0;
  let changes = 0;
  for (let p = 0; p < a.length; p++) ends += Math.abs(z[p]! - a[p]!);
  for (let k = 1; k < fs.length; k++) {
    const x = fs[k - 1]!.data;
    const y = fs[k]!.data;
    for (let p = 0; p < x.length; p += 3) {
      const d = Math.abs(y[p]! - x[p]!) + Math.abs(y[p + 1]! - x[p + 1]!) + Math.abs(y[p + 2]! - x[p + 2]!);
      total += d;
      changes++;
      if (d > VISIBLE_CHANGE) visible++;
    }
  }
  return { travel: total / ends, visible: visible / changes };
}

/** The encodes no other encode beats on both bytes and PSNR, by rising PSNR. */
function frontier(points: readonly Point[]): Point[] {
  return points.filter((p) => !points.some((q) => q !== p && q.bytes <= p.bytes && q.psnr >= p.psnr && (q.bytes < p.bytes || q.psnr > p.psnr))).sort((p, q) => p.psnr - q.psnr);
}

/** Bytes at `psnr` on the frontier of `points`, interpolating log-bytes between its neighbours (null outside). */
function bytesAt(points: readonly Point[], psnr: number): number | null {
  const sorted = frontier(points);
  for (let i = 1; i < sorted.length; i++) {
    const lo = sorted[i - 1]!;
    const hi = sorted[i]!;
    if (psnr >= lo.psnr && psnr <= hi.psnr) {
      const t = hi.psnr === lo.psnr ? 0 : (psnr - lo.psnr) / (hi.psnr - lo.psnr);
      return Math.exp(Math.log(lo.bytes) + t * (Math.log(hi.bytes) - Math.log(lo.bytes)));
    }
  }
  return null;
}

console.log(`GIF bytes of off vs blend morphs, ${values.model}, ${frames} frames, seed ${seed}, x${model.defaults.displayScale} display, rubber band`);
console.log(`encodes: ${COLOURS.join(', ')} colours x tolerance ${TOLERANCES.join(', ')} (default 256 colours, ${DEFAULT_TOLERANCE}); shown: the ones no other beats on both bytes and PSNR; "visible": share of pixel changes over ${VISIBLE_CHANGE} (sum of RGB levels)\n`);
const ratios: number[] = [];
const equalQuality: number[] = [];
for (const prompts of morphs) {
  const curves = new Map<SmoothMode, Point[]>();
  for (const smooth of ['off', 'blend'] as const) {
    const r = await render(model, { kind: 'morph', prompts, frames }, { seed, smooth });
    const scale = model.defaults.displayScale;
    const scaled = await resizeFrames(r.frames, r.frames[0]!.width * scale, r.frames[0]!.height * scale, 'nearest');
    const display = pingPongOrder(scaled.length).map((i) => scaled[i]!);
    const curve: Point[] = [];
    for (const maxColors of COLOURS) {
      for (const tolerance of TOLERANCES) {
        const gif = encodeGif(display, { fps: model.defaults.fps, tolerance, maxColors });
        curve.push({ colours: maxColors, tolerance, bytes: gif.bytes.length, psnr: await gifPsnr(gif.bytes, display) });
      }
    }
    curves.set(smooth, curve);
    const s = spread(r.frames);
    console.log(
      `${`${prompts.join(' -> ')}`.padEnd(26)} ${smooth.padEnd(5)} largest step ${(r.report.smoothness.largestShare * 100).toFixed(0).padStart(2)}%  travel ${s.travel.toFixed(2)}x the ends  visible ${(s.visible * 100).toFixed(0)}%  | ${frontier(curve).map((p) => `${p.colours}c/${p.tolerance}: ${(p.bytes / 1024).toFixed(0)} KiB ${p.psnr.toFixed(2)} dB`).join(' | ')}`,
    );
  }
  const isDefault = (p: Point) => p.tolerance === DEFAULT_TOLERANCE && p.colours === 256;
  const off = curves.get('off')!.find(isDefault)!;
  const blendCurve = curves.get('blend')!;
  const blend = blendCurve.find(isDefault)!;
  // Equal quality: blend read at off's PSNR, or else off read at blend's (whichever curve reaches the other's point).
  const blendAtOff = bytesAt(blendCurve, off.psnr);
  const offAtBlend = blendAtOff === null ? bytesAt(curves.get('off')!, blend.psnr) : null;
  const matched = blendAtOff !== null ? blendAtOff / off.bytes : offAtBlend !== null ? blend.bytes / offAtBlend : null;
  ratios.push(blend.bytes / off.bytes);
  if (matched !== null) equalQuality.push(matched);
  const where = blendAtOff !== null ? `at off's ${off.psnr.toFixed(2)} dB` : `at blend's ${blend.psnr.toFixed(2)} dB`;
  console.log(
    `${''.padEnd(26)} blend / off at the default settings ${(blend.bytes / off.bytes).toFixed(2)}x (${blend.psnr.toFixed(2)} vs ${off.psnr.toFixed(2)} dB); at equal PSNR ${matched === null ? 'n/a (the curves do not overlap)' : `${matched.toFixed(2)}x (${where})`}\n`,
  );
}
const range = (xs: number[]) => (xs.length === 0 ? 'n/a' : `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}x`);
console.log(`blend / off GIF bytes: ${range(ratios)} at the default settings; ${range(equalQuality)} at equal PSNR (${equalQuality.length} of ${morphs.length} morphs where the curves overlap)`);
await model.dispose();
