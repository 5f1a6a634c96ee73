/**
 * The "shapes" pack's prompt-adherence measure in TypeScript: which colour and which shape a rendered frame
 * shows, with no human eye. A line-by-line port of measure.py next to this file (`analyse`); the steps and
 * constants are written down in tools/train-shapes/adherence.json and tools/train-shapes/README.md.
 *
 * Also the scoring the test and the bench share: `scoreAdherence` renders the fixed prompt list of
 * adherence.json through the engine (one frame per prompt, with the listed seeds) and counts hits.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LoadedModel, RgbFrame } from '../../src/engine/index.ts';
import { render } from '../../src/engine/index.ts';

export const ADHERENCE_FILE = fileURLToPath(new URL('./adherence.json', import.meta.url));
export const TOKEN_FIXTURES_FILE = fileURLToPath(new URL('./token-fixtures.json', import.meta.url));

export const SHAPES = ['circle', 'square', 'triangle', 'ring', 'star'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** The generator's palette (tools/train-shapes/shapes_data.py), in its order: ties go to the first. */
export const PALETTE: ReadonlyArray<readonly [string, readonly [number, number, number]]> = [
  ['red', [220, 30, 30]],
  ['orange', [255, 140, 0]],
  ['yellow', [250, 230, 30]],
  ['green', [30, 170, 50]],
  ['blue', [30, 70, 230]],
  ['purple', [140, 40, 190]],
  ['white', [255, 255, 255]],
  ['black', [0, 0, 0]],
  ['gray', [128, 128, 128]],
];

export const MEASURE = {
  MIN_CONTRAST: 48,
  HOLE_MIN_FRACTION: 0.08,
  STAR_MAX_SOLIDITY: 0.8,
  SQUARE_MIN_FILL: 0.88,
  CIRCLE_MIN_FILL: 0.64,
} as const;

export interface ShapeAnalysis {
  background: string;
  backgroundRgb: [number, number, number];
  /** null when nothing stands out from the background. */
  colour: string | null;
  shape: ShapeName | null;
  meanRgb?: [number, number, number];
  area?: number;
  holeFraction?: number;
  fill?: number;
  solidity?: number;
}

export function nearestColour(rgb: readonly number[]): string {
  let best = PALETTE[0]![0];
  let bestD = Infinity;
  for (const [name, c] of PALETTE) {
    const d = (rgb[0]! - c[0]) ** 2 + (rgb[1]! - c[1]) ** 2 + (rgb[2]! - c[2]) ** 2;
    if (d < bestD) {
      best = name;
      bestD = d;
    }
  }
  return best;
}

function borderMedian(img: RgbFrame): [number, number, number] {
  const { width: w, height: h, data } = img;
  const idx: number[] = [];
  for (let x = 0; x < w; x++) idx.push(x);
  for (let x = 0; x < w; x++) idx.push((h - 1) * w + x);
  for (let y = 1; y < h - 1; y++) idx.push(y * w);
  for (let y = 1; y < h - 1; y++) idx.push(y * w + w - 1);
  const out: number[] = [];
  for (let ch = 0; ch < 3; ch++) {
    const v = idx.map((p) => data[p * 3 + ch]!).sort((a, b) => a - b);
    out.push(v[Math.floor((v.length - 1) / 2)]!);
  }
  return out as [number, number, number];
}

/** Largest 4-connected component of `mask` (first found in row-major order on ties), as pixel indices. */
function largestComponent(mask: Uint8Array, w: number, h: number): number[] {
  const seen = new Uint8Array(w * h);
  let best: number[] = [];
  for (let p0 = 0; p0 < w * h; p0++) {
    if (!mask[p0] || seen[p0]) continue;
    const comp: number[] = [];
    const stack = [p0];
    seen[p0] = 1;
    while (stack.length > 0) {
      const p = stack.pop()!;
      comp.push(p);
      const y = Math.floor(p / w);
      const x = p % w;
      const next = [y > 0 ? p - w : -1, y < h - 1 ? p + w : -1, x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1];
      for (const q of next) {
        if (q >= 0 && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (comp.length > best.length) best = comp;
  }
  return best;
}

type Pt = readonly [number, number];
const cross = (o: Pt, a: Pt, b: Pt) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);

/** Area of the convex hull of `points` (Andrew's monotone chain, shoelace). */
export function hullArea(points: readonly Pt[]): number {
  const uniq = new Map<string, Pt>();
  for (const p of points) uniq.set(`${p[0]},${p[1]}`, p);
  const pts = [...uniq.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return 0;
  const lower: Pt[] = [];
  const upper: Pt[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  for (const p of [...pts].reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  const hull = [...lower.slice(0, -1), ...upper.slice(0, -1)];
  let area = 0;
  for (let i = 0; i < hull.length; i++) {
    const [x1, y1] = hull[i]!;
    const [x2, y2] = hull[(i + 1) % hull.length]!;
    area += x1 * y2 - x2 * y1;
  }
  return Math.abs(area) / 2;
}

/** Which colour and which shape the frame shows (measure.py `analyse`). */
export function analyseShape(img: RgbFrame): ShapeAnalysis {
  const { width: w, height: h, data } = img;
  const bg = borderMedian(img);
  const n = w * h;
  const dist = new Float64Array(n);
  let dmax = 0;
  for (let p = 0; p < n; p++) {
    const d = Math.sqrt((data[3 * p]! - bg[0]) ** 2 + (data[3 * p + 1]! - bg[1]) ** 2 + (data[3 * p + 2]! - bg[2]) ** 2);
    dist[p] = d;
    if (d > dmax) dmax = d;
  }
  const res: ShapeAnalysis = { background: nearestColour(bg), backgroundRgb: bg, colour: null, shape: null };
  if (dmax < MEASURE.MIN_CONTRAST) return res;
  const thr = Math.max(MEASURE.MIN_CONTRAST, 0.5 * dmax);
  const mask = new Uint8Array(n);
  for (let p = 0; p < n; p++) mask[p] = dist[p]! > thr ? 1 : 0;
  const comp = largestComponent(mask, w, h);
  const inside = new Uint8Array(n);
  const sum = [0, 0, 0];
  for (const p of comp) {
    inside[p] = 1;
    for (let ch = 0; ch < 3; ch++) sum[ch]! += data[3 * p + ch]!;
  }
  const mean = sum.map((v) => v / comp.length) as [number, number, number];
  res.meanRgb = mean;
  res.colour = nearestColour(mean);

  // Holes: pixels outside the shape that a 4-connected flood from the image border cannot reach.
  const outside = new Uint8Array(n);
  const stack: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if ((y === 0 || x === 0 || y === h - 1 || x === w - 1) && !inside[p]) {
        outside[p] = 1;
        stack.push(p);
      }
    }
  }
  while (stack.length > 0) {
    const p = stack.pop()!;
    const y = Math.floor(p / w);
    const x = p % w;
    for (const q of [y > 0 ? p - w : -1, y < h - 1 ? p + w : -1, x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1]) {
      if (q >= 0 && !inside[q] && !outside[q]) {
        outside[q] = 1;
        stack.push(q);
      }
    }
  }
  let area = 0;
  let x0 = w;
  let x1 = -1;
  let y0 = h;
  let y1 = -1;
  const corners: Pt[] = [];
  for (let y = 0; y < h; y++) {
    let left = -1;
    let right = -1;
    for (let x = 0; x < w; x++) {
      if (outside[y * w + x]) continue;
      area++;
      if (left < 0) left = x;
      right = x;
    }
    if (left < 0) continue;
    x0 = Math.min(x0, left);
    x1 = Math.max(x1, right);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
    for (const x of [left, right + 1]) corners.push([x, y], [x, y + 1]);
  }
  const holes = area - comp.length;
  const bbox = (x1 - x0 + 1) * (y1 - y0 + 1);
  const hull = hullArea(corners);
  const holeFraction = holes / area;
  const fill = area / bbox;
  const solidity = hull > 0 ? area / hull : 0;
  let shape: ShapeName;
  if (holeFraction >= MEASURE.HOLE_MIN_FRACTION) shape = 'ring';
  else if (solidity < MEASURE.STAR_MAX_SOLIDITY) shape = 'star';
  else if (fill >= MEASURE.SQUARE_MIN_FILL) shape = 'square';
  else if (fill >= MEASURE.CIRCLE_MIN_FILL) shape = 'circle';
  else shape = 'triangle';
  return { ...res, shape, area, holeFraction, fill, solidity };
}

/** Where the shape's mean colour lies on the line from `from` to `to` (0 at `from`, 1 at `to`); NaN with no shape. */
export function colourProjection(a: ShapeAnalysis, from: string, to: string): number {
  if (!a.meanRgb) return NaN;
  const f = PALETTE.find(([n]) => n === from)![1];
  const t = PALETTE.find(([n]) => n === to)![1];
  let dot = 0;
  let len2 = 0;
  for (let ch = 0; ch < 3; ch++) {
    dot += (a.meanRgb[ch]! - f[ch]!) * (t[ch]! - f[ch]!);
    len2 += (t[ch]! - f[ch]!) ** 2;
  }
  return dot / len2;
}

// ------------------------------------------------------------------------------------------------
export interface AdherencePrompt {
  prompt: string;
  seed: number;
  colour: string;
  shape: ShapeName;
  background?: string;
}

export interface AdherenceSpec {
  prompts: AdherencePrompt[];
  targets: { colour: number; shape: number };
  sampler: { steps: number; guidance: number; shift: number; negative: string; width: number; height: number };
  measure: { palette: Record<string, number[]>; constants: Record<string, number> };
}

export function loadAdherenceSpec(file = ADHERENCE_FILE): AdherenceSpec {
  return JSON.parse(readFileSync(file, 'utf8')) as AdherenceSpec;
}

export interface AdherenceResult extends AdherencePrompt {
  got: ShapeAnalysis;
  colourOk: boolean;
  shapeOk: boolean;
}

export interface AdherenceSummary {
  n: number;
  colour: number;
  shape: number;
  perShape: Record<string, { n: number; colour: number; shape: number }>;
  results: AdherenceResult[];
  ms: number;
}

/** One image per prompt as the engine renders a single prompt: frame 0 of a zero-step walk. */
export async function renderPrompt(model: LoadedModel, prompt: string, seed: number): Promise<RgbFrame> {
  const { frames } = await render(model, { kind: 'walk', prompts: [prompt], frames: 2, stepSize: 0 }, { seed, batchSize: 2 });
  return frames[0]!;
}

export async function scoreAdherence(model: LoadedModel, prompts: readonly AdherencePrompt[] = loadAdherenceSpec().prompts): Promise<AdherenceSummary> {
  const t0 = performance.now();
  const results: AdherenceResult[] = [];
  for (const p of prompts) {
    const got = analyseShape(await renderPrompt(model, p.prompt, p.seed));
    results.push({ ...p, got, colourOk: got.colour === p.colour, shapeOk: got.shape === p.shape });
  }
  const perShape: AdherenceSummary['perShape'] = {};
  for (const s of SHAPES) {
    const rs = results.filter((r) => r.shape === s);
    if (rs.length === 0) continue;
    perShape[s] = { n: rs.length, colour: rs.filter((r) => r.colourOk).length / rs.length, shape: rs.filter((r) => r.shapeOk).length / rs.length };
  }
  return {
    n: results.length,
    colour: results.filter((r) => r.colourOk).length / results.length,
    shape: results.filter((r) => r.shapeOk).length / results.length,
    perShape,
    results,
    ms: performance.now() - t0,
  };
}

export function formatAdherence(s: AdherenceSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const per = Object.entries(s.perShape)
    .map(([k, v]) => `${k} ${pct(v.shape)}`)
    .join(', ');
  return `colour ${pct(s.colour)}, shape ${pct(s.shape)} over ${s.n} prompts (shape per kind: ${per}) in ${(s.ms / 1000).toFixed(1)} s`;
}
