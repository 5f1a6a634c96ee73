/**
 * The "emoji" pack's recognisability measure, with no human eye: render "a <short name>" through the engine,
 * take the frame's 32x32 thumbnail (the mean of each 2x2 block) and rank the 1,911 training images'
 * thumbnails (reference/thumbnails-32.png, written by train.py) by mean squared error over the 32x32x3 RGB
 * values. A hit is the named emoji nearest (top-1) or among the nearest five (top-5).
 * Shared by test/emoji-recognition.test.ts and bench/emoji.ts; train.py's torch evaluation does the same.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { render, type LoadedModel, type RgbFrame } from '../../src/engine/index.ts';

export const EVAL_FILE = fileURLToPath(new URL('./eval-emoji.json', import.meta.url));
export const REFERENCE_ATLAS = fileURLToPath(new URL('./reference/thumbnails-32.png', import.meta.url));
export const REFERENCE_INDEX = fileURLToPath(new URL('./reference/index.json', import.meta.url));
export const TOKEN_FIXTURES_FILE = fileURLToPath(new URL('./token-fixtures.json', import.meta.url));
export const EMOJI_PACK_DIR = fileURLToPath(new URL('../../models/emoji', import.meta.url));

export const THUMB = 32;
const THUMB_VALUES = THUMB * THUMB * 3;

export interface EvalItem {
  prompt: string;
  unified: string;
  short: string;
  category: string;
}

export interface EvalSpec {
  seed: number;
  distance: string;
  targets: { top1: number; top5: number };
  morph: { prompts: [string, string]; frames: number; first: string; last: string };
  items: EvalItem[];
}

export function loadEvalSpec(file = EVAL_FILE): EvalSpec {
  return JSON.parse(readFileSync(file, 'utf8')) as EvalSpec;
}

export interface Reference {
  /** unified code point sequence of each training image, in the atlas's order */
  unified: string[];
  short: string[];
  /** count * 32 * 32 * 3 bytes, one thumbnail after another, RGB rows top to bottom */
  thumbs: Uint8Array;
  indexOf: Map<string, number>;
}

export async function loadReference(): Promise<Reference> {
  const index = JSON.parse(readFileSync(REFERENCE_INDEX, 'utf8')) as { columns: number; size: number; count: number; emoji: { unified: string; short: string }[] };
  if (index.size !== THUMB || index.emoji.length !== index.count) throw new Error(`${REFERENCE_INDEX}: unexpected size or count`);
  const { data, info } = await sharp(REFERENCE_ATLAS).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${REFERENCE_ATLAS}: expected RGB`);
  const thumbs = new Uint8Array(index.count * THUMB_VALUES);
  for (let i = 0; i < index.count; i++) {
    const r = Math.floor(i / index.columns);
    const c = i % index.columns;
    for (let y = 0; y < THUMB; y++) {
      const src = ((r * THUMB + y) * info.width + c * THUMB) * 3;
      thumbs.set(data.subarray(src, src + THUMB * 3), i * THUMB_VALUES + y * THUMB * 3);
    }
  }
  const unified = index.emoji.map((e) => e.unified);
  return { unified, short: index.emoji.map((e) => e.short), thumbs, indexOf: new Map(unified.map((u, i) => [u, i])) };
}

/** The 32x32 thumbnail of a 64x64 frame: the mean of each 2x2 block, per channel (not rounded). */
export function thumbnail(frame: RgbFrame): Float32Array {
  if (frame.width !== 2 * THUMB || frame.height !== 2 * THUMB) throw new Error(`thumbnail: expected a 64x64 frame, got ${frame.width}x${frame.height}`);
  const out = new Float32Array(THUMB_VALUES);
  const w = frame.width;
  for (let y = 0; y < THUMB; y++) {
    for (let x = 0; x < THUMB; x++) {
      for (let ch = 0; ch < 3; ch++) {
        const p = (i: number, j: number) => frame.data[((2 * y + i) * w + 2 * x + j) * 3 + ch]!;
        out[(y * THUMB + x) * 3 + ch] = (p(0, 0) + p(0, 1) + p(1, 0) + p(1, 1)) / 4;
      }
    }
  }
  return out;
}

/** Mean squared error over the 32x32x3 values between a thumbnail and every reference thumbnail. */
export function distances(thumb: Float32Array, ref: Reference): Float64Array {
  const n = ref.unified.length;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const base = i * THUMB_VALUES;
    for (let k = 0; k < THUMB_VALUES; k++) {
      const e = thumb[k]! - ref.thumbs[base + k]!;
      s += e * e;
    }
    d[i] = s / THUMB_VALUES;
  }
  return d;
}

/** How many reference images are strictly nearer than the target (0: the target is the nearest). */
export function rankOf(d: Float64Array, target: number): number {
  let r = 0;
  for (let i = 0; i < d.length; i++) if (d[i]! < d[target]!) r++;
  return r;
}

export function nearestIndex(d: Float64Array): number {
  let best = 0;
  for (let i = 1; i < d.length; i++) if (d[i]! < d[best]!) best = i;
  return best;
}

/**
 * Renders of each prompt at `seed`, four at a time as the corners of a 2x2 grid: a grid's corners are its
 * prompts' own renders (slerp returns its inputs at 0 and 1, every cell starts from the seed's one noise),
 * the same frames a one-prompt render gives, at a quarter of the calls.
 */
export async function renderPrompts(model: LoadedModel, prompts: readonly string[], seed: number): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for (let i = 0; i < prompts.length; i += 4) {
    const four = [0, 1, 2, 3].map((k) => prompts[Math.min(i + k, prompts.length - 1)]!) as [string, string, string, string];
    const { frames } = await render(model, { kind: 'grid', prompts: four, gridSize: 2 }, { seed, batchSize: 4, smooth: 'off' });
    out.push(...frames.slice(0, Math.min(4, prompts.length - i)));
  }
  return out;
}

export interface ItemResult extends EvalItem {
  rank: number;
  nearest: string;
  nearestShort: string;
}

export interface Recognition {
  count: number;
  top1: number;
  top5: number;
  perCategory: Record<string, { count: number; top1: number; top5: number }>;
  items: ItemResult[];
  renderMs: number;
  frames: RgbFrame[];
}

export async function scoreRecognition(model: LoadedModel, spec: EvalSpec, ref: Reference): Promise<Recognition> {
  const t0 = performance.now();
  const frames = await renderPrompts(model, spec.items.map((it) => it.prompt), spec.seed);
  const renderMs = performance.now() - t0;
  const items = spec.items.map((it, k): ItemResult => {
    const target = ref.indexOf.get(it.unified);
    if (target === undefined) throw new Error(`eval item ${it.prompt}: ${it.unified} is not in the reference thumbnails`);
    const d = distances(thumbnail(frames[k]!), ref);
    const n = nearestIndex(d);
    return { ...it, rank: rankOf(d, target), nearest: ref.unified[n]!, nearestShort: ref.short[n]! };
  });
  const summarize = (xs: ItemResult[]) => ({
    count: xs.length,
    top1: xs.filter((x) => x.rank === 0).length / xs.length,
    top5: xs.filter((x) => x.rank < 5).length / xs.length,
  });
  const perCategory: Recognition['perCategory'] = {};
  for (const cat of [...new Set(items.map((x) => x.category))]) perCategory[cat] = summarize(items.filter((x) => x.category === cat));
  return { ...summarize(items), perCategory, items, renderMs, frames };
}

export interface MorphCheck {
  prompts: [string, string];
  frames: number;
  /** nearest training image (short name) of each frame */
  nearest: string[];
  /** rank of the first prompt's emoji in each frame, and of the last prompt's */
  rankFirst: number[];
  rankLast: number[];
  summary: { first: string; last: string };
  images: RgbFrame[];
}

/** A morph with the engine's default settings; which training image each frame is nearest to. */
export async function checkMorph(model: LoadedModel, spec: EvalSpec, ref: Reference): Promise<MorphCheck> {
  const { frames } = await render(model, { kind: 'morph', prompts: spec.morph.prompts, frames: spec.morph.frames }, { seed: spec.seed });
  const a = ref.indexOf.get(spec.morph.first)!;
  const b = ref.indexOf.get(spec.morph.last)!;
  const ds = frames.map((f) => distances(thumbnail(f), ref));
  const nearest = ds.map((d) => ref.short[nearestIndex(d)]!);
  return {
    prompts: spec.morph.prompts,
    frames: frames.length,
    nearest,
    rankFirst: ds.map((d) => rankOf(d, a)),
    rankLast: ds.map((d) => rankOf(d, b)),
    summary: { first: nearest[0]!, last: nearest.at(-1)! },
    images: frames,
  };
}

export function formatRecognition(r: Recognition): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const cats = Object.entries(r.perCategory)
    .map(([k, v]) => `${k} ${pct(v.top1)}/${pct(v.top5)}`)
    .join(', ');
  return `top-1 ${pct(r.top1)}, top-5 ${pct(r.top5)} over ${r.count} prompts (${cats}); ${(r.renderMs / 1000).toFixed(1)} s`;
}

/** Frames side by side, `columns` per row, on white: a PNG. */
export async function contactSheet(frames: readonly RgbFrame[], columns: number, scale = 1): Promise<Buffer> {
  const w = frames[0]!.width;
  const h = frames[0]!.height;
  const rows = Math.ceil(frames.length / columns);
  const W = columns * w;
  const sheet = Buffer.alloc(W * rows * h * 3, 255);
  frames.forEach((f, i) => {
    const r = Math.floor(i / columns);
    const c = i % columns;
    for (let y = 0; y < h; y++) sheet.set(f.data.subarray(y * w * 3, (y + 1) * w * 3), ((r * h + y) * W + c * w) * 3);
  });
  return sharp(sheet, { raw: { width: W, height: rows * h, channels: 3 } })
    .resize(W * scale, rows * h * scale, { kernel: 'nearest' })
    .png({ compressionLevel: 9 })
    .toBuffer();
}
