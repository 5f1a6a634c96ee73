/**
 * GIF encoder benchmark: plain gifenc (one global palette) vs our encodeGif vs ffmpeg's two-pass
 * palettegen + paletteuse, on 64 deterministic 512x512 walk-like frames.
 *
 *   node --import tsx bench/gif.ts [--frames 64] [--size 512] [--runs 3]
 *
 * PSNR is measured by decoding each GIF with sharp (libvips' own GIF loader, which composites
 * transparency and disposal) and comparing every frame with its source.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import gifenc from 'gifenc';
import sharp from 'sharp';
import type { RgbFrame } from '../src/engine/frames.ts';
import { encodeGif } from '../src/engine/output/gif.ts';
import { seededRandom } from '../test/harness/random.ts';

const { GIFEncoder, quantize, applyPalette } = gifenc;

export interface GifBenchRow {
  name: string;
  /** Median encode wall time over the runs, in ms (ffmpeg: the process's, frames piped in). */
  ms: number;
  /** CPU time of the run with the median wall time, in ms (ffmpeg: the child's user + system time). */
  cpuMs: number;
  /** Wall time of the first (cold, un-JITted) run, in ms. */
  firstMs: number;
  bytes: number;
  psnr: number;
  detail?: string;
}

export interface GifBenchOptions {
  frames?: number;
  size?: number;
  fps?: number;
  runs?: number;
  /** Include the ffmpeg rows when ffmpeg is on PATH. @defaultValue true */
  ffmpeg?: boolean;
  log?: (line: string) => void;
}

// ---------- synthetic frames ----------


/** A smooth "scene": four soft colour regions, a slow shading gradient and fine luminance texture. */
function keyframe(size: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  const out = new Float32Array(size * size * 3);
  const regions = 4;
  const colours = Array.from({ length: regions }, () => [30 + rnd() * 200, 30 + rnd() * 200, 30 + rnd() * 200]);
  const blobs = Array.from({ length: regions }, () => [rnd() * size, rnd() * size, (0.15 + rnd() * 0.35) * size]);
  const angle = rnd() * 2 * Math.PI;
  const freq = ((1 + rnd() * 2) * 2 * Math.PI) / size;
  const phase = rnd() * 2 * Math.PI;
  // Texture: value noise on a 3 px lattice (bilinear) plus 1 px grain, ~±12 levels, like fine diffusion detail.
  const cell = 3;
  const texAmp = 12;
  const gw = Math.ceil(size / cell) + 2;
  const lattice = new Float32Array(gw * gw);
  for (let i = 0; i < lattice.length; i++) lattice[i] = rnd() * 2 - 1;
  const weights = new Float64Array(regions);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = 0; k < regions; k++) {
        const blob = blobs[k]!;
        const dx = x - blob[0]!, dy = y - blob[1]!;
        const v = Math.exp(-(dx * dx + dy * dy) / (2 * blob[2]! * blob[2]!)) + 0.02;
        weights[k] = v * v;
        sum += v * v;
      }
      const light = 0.85 + 0.15 * Math.sin(freq * (x * Math.cos(angle) + y * Math.sin(angle)) + phase);
      const gx = x / cell, gy = y / cell;
      const x0 = Math.floor(gx), y0 = Math.floor(gy), fx = gx - x0, fy = gy - y0;
      const l = (i: number, j: number): number => lattice[j * gw + i]!;
      const tex = (l(x0, y0) * (1 - fx) + l(x0 + 1, y0) * fx) * (1 - fy) + (l(x0, y0 + 1) * (1 - fx) + l(x0 + 1, y0 + 1) * fx) * fy;
      const grain = (rnd() * 2 - 1) * 0.6;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < regions; k++) v += weights[k]! * colours[k]![c]!;
        out[(y * size + x) * 3 + c] = (v / sum) * light + texAmp * (tex + grain);
      }
    }
  }
  return out;
}

/**
 * `count` frames cross-fading linearly through 5 keyframes, so every pixel changes a little every frame
 * (the blend weight moves ~6% a frame). Deterministic.
 */
export function syntheticWalkFrames(count = 64, size = 512): RgbFrame[] {
  const keys = Array.from({ length: 5 }, (_, k) => keyframe(size, 1234 + k * 7919));
  const frames: RgbFrame[] = [];
  for (let t = 0; t < count; t++) {
    const s = (t / Math.max(1, count - 1)) * (keys.length - 1);
    const i = Math.min(keys.length - 2, Math.floor(s));
    const w = s - i;
    const a = keys[i]!, b = keys[i + 1]!;
    const data = new Uint8Array(size * size * 3);
    for (let p = 0; p < data.length; p++) data[p] = Math.max(0, Math.min(255, Math.round(a[p]! * (1 - w) + b[p]! * w)));
    frames.push({ width: size, height: size, data });
  }
  return frames;
}

// ---------- encoders under test ----------

/** Baseline: gifenc's README recipe; palette from every 4th frame stacked, applyPalette, no differencing. */
export function plainGifenc(frames: readonly RgbFrame[], fps: number): Uint8Array {
  const { width, height } = frames[0]!;
  const n = width * height;
  const toRgba = (f: RgbFrame): Uint8Array => {
    const out = new Uint8Array(n * 4);
    for (let i = 0, j = 0; i < n * 3; i += 3, j += 4) {
      out[j] = f.data[i]!;
      out[j + 1] = f.data[i + 1]!;
      out[j + 2] = f.data[i + 2]!;
      out[j + 3] = 255;
    }
    return out;
  };
  const sampled = frames.filter((_, i) => i % 4 === 0);
  const stack = new Uint8Array(sampled.length * n * 4);
  sampled.forEach((f, i) => stack.set(toRgba(f), i * n * 4));
  const palette = quantize(stack, 256);
  const encoder = GIFEncoder();
  for (const f of frames) encoder.writeFrame(applyPalette(toRgba(f), palette), width, height, { palette, delay: 1000 / fps });
  encoder.finish();
  return encoder.bytes();
}

export const FFMPEG_VARIANTS: readonly { name: string; palettegen: string; paletteuse: string }[] = [
  { name: 'full/none', palettegen: 'stats_mode=full', paletteuse: 'dither=none' },
  { name: 'diff/none', palettegen: 'stats_mode=diff', paletteuse: 'dither=none' },
  { name: 'diff/none/rect', palettegen: 'stats_mode=diff', paletteuse: 'dither=none:diff_mode=rectangle' },
  { name: 'full/bayer5', palettegen: 'stats_mode=full', paletteuse: 'dither=bayer:bayer_scale=5' },
  { name: 'diff/bayer5', palettegen: 'stats_mode=diff', paletteuse: 'dither=bayer:bayer_scale=5' },
  { name: 'full/sierra2_4a', palettegen: 'stats_mode=full', paletteuse: 'dither=sierra2_4a' },
];

/** ffmpeg two-pass palette encode (one process; palettegen buffers every frame before paletteuse runs). */
export function ffmpegGif(frames: readonly RgbFrame[], fps: number, palettegen: string, paletteuse: string): Promise<Uint8Array> {
  const { width, height } = frames[0]!;
  const args = [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0',
    '-filter_complex', `split[a][b];[a]palettegen=${palettegen}[p];[b][p]paletteuse=${paletteuse}`,
    '-loop', '0', '-f', 'gif', 'pipe:1',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(new Uint8Array(Buffer.concat(out))) : reject(new Error(`ffmpeg exited ${code}: ${err.trim()}`))));
    child.stdin.on('error', () => {}); // reported through 'close'
    (async () => {
      for (const f of frames) {
        if (!child.stdin.write(f.data)) await new Promise((r) => child.stdin.once('drain', r));
      }
      child.stdin.end();
    })().catch(reject);
  });
}

export async function hasFfmpeg(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('ffmpeg', ['-version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

// ---------- measurement ----------

/** PSNR (dB) of a decoded GIF against its source frames, over all frames and RGB channels. */
export async function gifPsnr(gif: Uint8Array, frames: readonly RgbFrame[]): Promise<number> {
  const { data, info } = await sharp(gif, { animated: true, limitInputPixels: false }).raw().toBuffer({ resolveWithObject: true });
  const n = frames[0]!.width * frames[0]!.height;
  const ch = info.channels;
  if (data.length !== n * ch * frames.length) throw new Error(`decoded ${data.length / (n * ch)} frames, expected ${frames.length}`);
  let se = 0;
  frames.forEach((f, k) => {
    const base = k * n * ch;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const d = data[base + i * ch + c]! - f.data[i * 3 + c]!;
        se += d * d;
      }
    }
  });
  const mse = se / (frames.length * n * 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** User + system CPU ms of this process and of its reaped children (Linux /proc; children 0 elsewhere). */
function cpuNow(): { self: number; children: number } {
  const u = process.cpuUsage();
  let children = 0;
  try {
    // /proc/self/stat fields 16 and 17 (cutime, cstime) are in clock ticks, 100 a second on Linux.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    children = 0;
  }
  return { self: (u.user + u.system) / 1000, children };
}

interface Timed {
  ms: number;
  cpuMs: number;
  firstMs: number;
  bytes: Uint8Array;
}

async function timed(runs: number, encode: () => Uint8Array | Promise<Uint8Array>, child = false): Promise<Timed> {
  const samples: { ms: number; cpuMs: number }[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < runs; i++) {
    const c0 = cpuNow();
    const t = performance.now();
    bytes = await encode();
    const ms = performance.now() - t;
    const c1 = cpuNow();
    samples.push({ ms, cpuMs: child ? c1.children - c0.children : c1.self - c0.self });
  }
  const firstMs = samples[0]!.ms;
  samples.sort((a, b) => a.ms - b.ms);
  const mid = samples[Math.floor(samples.length / 2)]!;
  return { ...mid, firstMs, bytes };
}

/** Runs the benchmark; rows: plain gifenc, ours, each ffmpeg variant, then ffmpeg's best (smallest) again. */
export async function runGifBench(options: GifBenchOptions = {}): Promise<GifBenchRow[]> {
  const { frames: count = 64, size = 512, fps = 10, runs = 3, ffmpeg = true, log = () => {} } = options;
  log(`generating ${count} synthetic ${size}x${size} frames...`);
  const frames = syntheticWalkFrames(count, size);
  const rows: GifBenchRow[] = [];

  // Ours first, so its first run is as cold as it would be in a fresh process (gifenc's LZW not yet JIT-compiled).
  let oursDetail = '';
  const ours = await timed(runs, () => {
    const r = encodeGif(frames, { fps });
    oursDetail = `${r.colors} colours, ${(r.transparentShare * 100).toFixed(0)}% transparent, delay ${r.delayCs} cs`;
    return r.bytes;
  });
  const row = async (name: string, t: Timed, detail?: string): Promise<GifBenchRow> => ({
    name,
    ms: t.ms,
    cpuMs: t.cpuMs,
    firstMs: t.firstMs,
    bytes: t.bytes.length,
    psnr: await gifPsnr(t.bytes, frames),
    ...(detail !== undefined && { detail }),
  });
  const oursRow = await row('encodeGif (ours)', ours, oursDetail);
  log('encodeGif done');

  const plain = await timed(runs, () => plainGifenc(frames, fps));
  rows.push(await row('gifenc plain (global palette)', plain));
  log('plain gifenc done');

  rows.push(oursRow);

  if (ffmpeg && (await hasFfmpeg())) {
    const ff: GifBenchRow[] = [];
    for (const v of FFMPEG_VARIANTS) {
      const r = await timed(1, () => ffmpegGif(frames, fps, v.palettegen, v.paletteuse), true);
      ff.push(await row(`ffmpeg ${v.name}`, r, `palettegen=${v.palettegen} paletteuse=${v.paletteuse}`));
      log(`ffmpeg ${v.name} done`);
    }
    rows.push(...ff);
    const best = ff.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    rows.push({ ...best, name: `ffmpeg best (${best.name.slice(7)})` });
  } else {
    log('ffmpeg not on PATH: skipping the ffmpeg rows');
  }
  return rows;
}

export function formatGifBench(rows: readonly GifBenchRow[]): string {
  const ref = rows.find((r) => r.name.startsWith('ffmpeg best'));
  const mib = (b: number): string => (b / 1048576).toFixed(2);
  const lines = [
    '| encoder | time (wall, median) | first run | CPU | size | PSNR | time / ffmpeg best | size / ffmpeg best |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const t = ref ? (r.ms / ref.ms).toFixed(2) : 'n/a';
    const s = ref ? (r.bytes / ref.bytes).toFixed(3) : 'n/a';
    const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    lines.push(`| ${r.name} | ${sec(r.ms)} | ${sec(r.firstMs)} | ${sec(r.cpuMs)} | ${mib(r.bytes)} MiB | ${r.psnr.toFixed(2)} dB | ${t} | ${s} |`);
  }
  return lines.join('\n');
}

/** The acceptance targets for encodeGif, checked against the rows. */
export function gifBenchVerdict(rows: readonly GifBenchRow[]): string[] {
  const ours = rows.find((r) => r.name === 'encodeGif (ours)');
  const plain = rows.find((r) => r.name.startsWith('gifenc plain'));
  const ff = rows.find((r) => r.name.startsWith('ffmpeg best'));
  if (!ours || !plain) return [];
  const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const lines = [
    `${mark(ours.ms <= 1000)} encode time ${(ours.ms / 1000).toFixed(2)} s (first run ${(ours.firstMs / 1000).toFixed(2)} s) <= 1 s`,
    `${mark(ours.psnr >= plain.psnr)} PSNR ${ours.psnr.toFixed(2)} dB >= plain gifenc ${plain.psnr.toFixed(2)} dB`,
  ];
  if (ff) lines.push(`${mark(ours.bytes <= ff.bytes)} size ${(ours.bytes / 1048576).toFixed(2)} MiB <= ffmpeg best ${(ff.bytes / 1048576).toFixed(2)} MiB`);
  return lines;
}

function argValue(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) ? v : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts: GifBenchOptions = { log: (l) => console.error(l) };
  const frames = argValue('frames');
  const size = argValue('size');
  const runs = argValue('runs');
  if (frames !== undefined) opts.frames = frames;
  if (size !== undefined) opts.size = size;
  if (runs !== undefined) opts.runs = runs;
  const rows = await runGifBench(opts);
  console.log(formatGifBench(rows));
  for (const r of rows) if (r.detail) console.log(`  ${r.name}: ${r.detail}`);
  for (const line of gifBenchVerdict(rows)) console.log(line);
}
