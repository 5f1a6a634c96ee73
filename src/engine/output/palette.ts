/**
 * One global palette for a whole animation, and a fast nearest-colour lookup for it.
 *
 * The palette starts from gifenc's PnnQuant on pixels sampled from every frame (not every 4th: a walk
 * passes through colours that only a few frames show), then gets a few k-means (Lloyd) passes over a
 * 15-bit histogram of the same sample. PnnQuant merges histogram bins greedily, so its colours sit a bit
 * off the clusters' centres; the Lloyd passes move them there (+0.3 dB nearest-colour PSNR on the bench's
 * walk, for ~15 ms).
 *
 * Pixels are then mapped through a lazily filled 2^18-entry table (6 bits a channel) holding the exact
 * nearest colour of each bin's centre (at most 2 levels a channel from any pixel in the bin). gifenc's
 * applyPalette caches the nearest colour of whichever pixel first hits each 15-bit bin, up to 7 levels away
 * from the next pixel in that bin. Together with the all-frames sample and the Lloyd passes, mapping every
 * pixel to its nearest colour gives 34.6 dB on the bench's walk against 32.9 dB for the plain gifenc recipe.
 */
import gifenc from 'gifenc';
import type { RgbFrame } from '../frames.ts';

const { quantize } = gifenc;

/** About this many pixels are sampled for the palette, spread evenly over all frames. */
const SAMPLE_PIXELS = 1 << 19;
const KMEANS_PASSES = 4;
const QUANTIZE_BIN_LIMIT = 6000;
/** The lookup table keys colours by their top 6 bits a channel: 2^18 entries, filled on first use. */
const LUT_BITS = 6;
const LUT_EMPTY = 0xffff;

export interface Palette {
  /** Number of colours (1..256). */
  readonly size: number;
  readonly r: Int32Array;
  readonly g: Int32Array;
  readonly b: Int32Array;
  /** Colour index for a 6-bit-per-channel key (see `lutKey`); `LUT_EMPTY` until first looked up. */
  readonly lut: Uint16Array;
  /** Palette indices sorted by their projection on the palette's principal axis, for pruned search. */
  readonly order: Int32Array;
  readonly proj: Float64Array;
  readonly axis: readonly [number, number, number];
}

/** Builds a palette of at most `maxColors` colours (1..256) for all `frames`. */
export function buildPalette(frames: readonly RgbFrame[], maxColors: number): Palette {
  const sample = samplePixels(frames);
  const rgba = new Uint8Array((sample.length / 3) * 4);
  for (let i = 0, j = 0; i < sample.length; i += 3, j += 4) {
    rgba[j] = sample[i]!;
    rgba[j + 1] = sample[i + 1]!;
    rgba[j + 2] = sample[i + 2]!;
    rgba[j + 3] = 255;
  }
  const bins = histogram15(sample);
  // PnnQuant's time grows with the square of its occupied bins (gifenc's 'rgb565' key keeps 5 bits a
  // channel, the same bins as histogram15): ~0.1 s for 3-4k bins, ~6 s for a colourful walk with 22k.
  // Past QUANTIZE_BIN_LIMIT it runs on 12-bit bins instead; the Lloyd passes make up most of the loss.
  const format = bins.length / 4 > QUANTIZE_BIN_LIMIT ? 'rgb444' : 'rgb565';
  const seeds = quantize(rgba, Math.max(1, Math.min(256, maxColors)), { format });
  const colours = refineKMeans(seeds, bins, KMEANS_PASSES);
  return paletteFromColours(colours);
}

/** Wraps fixed colours (e.g. for tests) in the lookup structures. */
export function paletteFromColours(colours: readonly (readonly number[])[]): Palette {
  const size = colours.length;
  if (size < 1 || size > 256) throw new RangeError(`palette needs 1..256 colours, got ${size}`);
  const r = new Int32Array(size);
  const g = new Int32Array(size);
  const b = new Int32Array(size);
  colours.forEach((c, i) => {
    r[i] = clampByte(c[0] ?? 0);
    g[i] = clampByte(c[1] ?? 0);
    b[i] = clampByte(c[2] ?? 0);
  });
  const axis = principalAxis(r, g, b);
  const projected = Array.from({ length: size }, (_, i) => ({ i, p: r[i]! * axis[0] + g[i]! * axis[1] + b[i]! * axis[2] }));
  projected.sort((x, y) => x.p - y.p);
  return {
    size,
    r,
    g,
    b,
    lut: new Uint16Array(1 << (3 * LUT_BITS)).fill(LUT_EMPTY),
    order: Int32Array.from(projected, (x) => x.i),
    proj: Float64Array.from(projected, (x) => x.p),
    axis,
  };
}

/** The palette as gifenc wants it. */
export function paletteColours(palette: Palette): number[][] {
  return Array.from({ length: palette.size }, (_, i) => [palette.r[i]!, palette.g[i]!, palette.b[i]!]);
}

export function lutKey(r: number, g: number, b: number): number {
  return ((r & 0xfc) << 10) | ((g & 0xfc) << 4) | (b >> 2);
}

/** Nearest palette index for an 8-bit colour, through the lookup table (exact for the key's bin centre). */
export function nearestIndex(palette: Palette, r: number, g: number, b: number): number {
  const key = lutKey(r, g, b);
  const hit = palette.lut[key]!;
  return hit !== LUT_EMPTY ? hit : fillLut(palette, key);
}

/**
 * Fills one lookup entry with the palette colour nearest the key's bin centre. The search walks out from
 * the centre's projection on the principal axis and stops once the projected distance alone exceeds the
 * best squared distance found, which visits a handful of colours instead of all 256.
 */
export function fillLut(palette: Palette, key: number): number {
  const { r: pr, g: pg, b: pb, order, proj, axis } = palette;
  const r = ((key >> 12) << 2) + 2;
  const g = (((key >> 6) & 63) << 2) + 2;
  const b = ((key & 63) << 2) + 2;
  const x = r * axis[0] + g * axis[1] + b * axis[2];
  const n = order.length;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (proj[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  let best = order[Math.min(lo, n - 1)]!;
  let bestD = Infinity;
  let up = lo;
  let down = lo - 1;
  while (up < n || down >= 0) {
    if (up < n) {
      const dp = proj[up]! - x;
      if (dp * dp > bestD) up = n;
      else {
        const p = order[up++]!;
        const dr = pr[p]! - r, dg = pg[p]! - g, db = pb[p]! - b;
        const d = dr * dr + dg * dg + db * db;
        if (d < bestD || (d === bestD && p < best)) {
          bestD = d;
          best = p;
        }
      }
    }
    if (down >= 0) {
      const dp = x - proj[down]!;
      if (dp * dp > bestD) down = -1;
      else {
        const p = order[down--]!;
        const dr = pr[p]! - r, dg = pg[p]! - g, db = pb[p]! - b;
        const d = dr * dr + dg * dg + db * db;
        if (d < bestD || (d === bestD && p < best)) {
          bestD = d;
          best = p;
        }
      }
    }
  }
  palette.lut[key] = best;
  return best;
}

/** Packed RGB sample of about SAMPLE_PIXELS pixels, taken with a stride that shifts from frame to frame. */
function samplePixels(frames: readonly RgbFrame[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += f.width * f.height;
  const stride = Math.max(1, Math.floor(total / SAMPLE_PIXELS));
  const out = new Uint8Array((Math.ceil(total / stride) + frames.length) * 3);
  let o = 0;
  frames.forEach((f, k) => {
    const n = f.width * f.height;
    const d = f.data;
    // A per-frame offset, so a small stride does not sample the same columns in every frame.
    for (let i = (k * 7) % stride; i < n; i += stride) {
      const p = i * 3;
      out[o++] = d[p]!;
      out[o++] = d[p + 1]!;
      out[o++] = d[p + 2]!;
    }
  });
  return out.subarray(0, o);
}

/** Occupied bins of a 5-bit-per-channel histogram: [count, mean r, mean g, mean b] per bin, flattened. */
function histogram15(sample: Uint8Array): number[] {
  const hist = new Float64Array((1 << 15) * 4);
  for (let i = 0; i < sample.length; i += 3) {
    const r = sample[i]!, g = sample[i + 1]!, b = sample[i + 2]!;
    const k = (((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)) * 4;
    hist[k]!++;
    hist[k + 1]! += r;
    hist[k + 2]! += g;
    hist[k + 3]! += b;
  }
  const bins: number[] = [];
  for (let k = 0; k < hist.length; k += 4) {
    const c = hist[k]!;
    if (c > 0) bins.push(c, hist[k + 1]! / c, hist[k + 2]! / c, hist[k + 3]! / c);
  }
  return bins;
}

/** Lloyd passes over histogram bins (see `histogram15`), each bin weighted by its count. */
function refineKMeans(seeds: readonly (readonly number[])[], bins: readonly number[], passes: number): number[][] {
  const P = seeds.length;
  const pr = Float64Array.from(seeds, (c) => c[0] ?? 0);
  const pg = Float64Array.from(seeds, (c) => c[1] ?? 0);
  const pb = Float64Array.from(seeds, (c) => c[2] ?? 0);
  const acc = new Float64Array(P * 4);
  for (let pass = 0; pass < passes; pass++) {
    acc.fill(0);
    for (let j = 0; j < bins.length; j += 4) {
      const r = bins[j + 1]!, g = bins[j + 2]!, b = bins[j + 3]!;
      let best = 0;
      let bestD = Infinity;
      for (let p = 0; p < P; p++) {
        const dr = pr[p]! - r;
        let d = dr * dr;
        if (d >= bestD) continue;
        const dg = pg[p]! - g;
        d += dg * dg;
        if (d >= bestD) continue;
        const db = pb[p]! - b;
        d += db * db;
        if (d >= bestD) continue;
        bestD = d;
        best = p;
      }
      const c = bins[j]!;
      const a = best * 4;
      acc[a]! += c;
      acc[a + 1]! += r * c;
      acc[a + 2]! += g * c;
      acc[a + 3]! += b * c;
    }
    // A colour no bin chose keeps its place (it still costs nothing but a palette slot).
    for (let p = 0; p < P; p++) {
      const c = acc[p * 4]!;
      if (c > 0) {
        pr[p] = acc[p * 4 + 1]! / c;
        pg[p] = acc[p * 4 + 2]! / c;
        pb[p] = acc[p * 4 + 3]! / c;
      }
    }
  }
  return Array.from({ length: P }, (_, p) => [Math.round(pr[p]!), Math.round(pg[p]!), Math.round(pb[p]!)]);
}

/** Unit vector along which the palette spreads most (power iteration on its covariance). */
function principalAxis(r: Int32Array, g: Int32Array, b: Int32Array): [number, number, number] {
  const n = r.length;
  let mr = 0, mg = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    mr += r[i]!;
    mg += g[i]!;
    mb += b[i]!;
  }
  mr /= n;
  mg /= n;
  mb /= n;
  let rr = 0, rg = 0, rb = 0, gg = 0, gb = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    const x = r[i]! - mr, y = g[i]! - mg, z = b[i]! - mb;
    rr += x * x;
    rg += x * y;
    rb += x * z;
    gg += y * y;
    gb += y * z;
    bb += z * z;
  }
  let v: [number, number, number] = [1, 1, 1];
  for (let it = 0; it < 24; it++) {
    const nx = rr * v[0] + rg * v[1] + rb * v[2];
    const ny = rg * v[0] + gg * v[1] + gb * v[2];
    const nz = rb * v[0] + gb * v[1] + bb * v[2];
    const len = Math.hypot(nx, ny, nz);
    if (len < 1e-9) break; // all colours equal: any axis works
    v = [nx / len, ny / len, nz / len];
  }
  const len = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / len, v[1] / len, v[2] / len];
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
