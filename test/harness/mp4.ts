/**
 * Reading MP4 files back in tests and benches: a small ISO-BMFF box reader (the track's codec, size, sample
 * count and durations, its avcC parameter sets and samples) and an H.264 decoder (tinyh264: h264bsd in
 * WebAssembly, Baseline profile, which is what the engine writes) with BT.601 limited-range YUV -> RGB.
 */
import type { RgbFrame } from '../../src/engine/frames.ts';

interface Box {
  type: string;
  start: number;
  end: number;
  /** Where the payload starts (after size/type, and after version/flags for full boxes read by the caller). */
  body: number;
}

function boxes(buf: Uint8Array, start: number, end: number): Box[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Box[] = [];
  let p = start;
  while (p + 8 <= end) {
    let size = view.getUint32(p);
    const type = String.fromCharCode(buf[p + 4]!, buf[p + 5]!, buf[p + 6]!, buf[p + 7]!);
    let body = p + 8;
    if (size === 1) {
      size = Number(view.getBigUint64(p + 8));
      body = p + 16;
    } else if (size === 0) {
      size = end - p;
    }
    if (size < 8 || p + size > end) throw new Error(`MP4: box '${type}' at ${p} runs past its parent (${size} bytes)`);
    out.push({ type, start: p, end: p + size, body });
    p += size;
  }
  return out;
}

function child(buf: Uint8Array, parent: Box, type: string, offset = 0): Box {
  const found = boxes(buf, parent.body + offset, parent.end).find((b) => b.type === type);
  if (!found) throw new Error(`MP4: no '${type}' in '${parent.type}'`);
  return found;
}

export interface Mp4Info {
  /** Top-level box types in order (ftyp, moov, mdat...). */
  topLevel: string[];
  codec: string;
  /** avcC profile_idc: 66 Baseline, 77 Main, 100 High. */
  profile: number;
  width: number;
  height: number;
  sampleCount: number;
  timescale: number;
  /** Track duration in seconds. */
  durationS: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** Each sample's NAL units (length prefixes removed). */
  samples: Uint8Array[][];
}

export function readMp4(bytes: Uint8Array): Mp4Info {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const top = boxes(bytes, 0, bytes.length);
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) throw new Error('MP4: no moov box');
  const trak = child(bytes, moov, 'trak');
  const mdia = child(bytes, trak, 'mdia');
  const mdhd = child(bytes, mdia, 'mdhd');
  const mdhdVersion = bytes[mdhd.body]!;
  const timescale = view.getUint32(mdhd.body + (mdhdVersion === 1 ? 20 : 12));
  const duration = mdhdVersion === 1 ? Number(view.getBigUint64(mdhd.body + 24)) : view.getUint32(mdhd.body + 16);
  const stbl = child(bytes, child(bytes, mdia, 'minf'), 'stbl');
  const stsd = child(bytes, stbl, 'stsd');
  const entry = boxes(bytes, stsd.body + 8, stsd.end)[0]!;
  // VisualSampleEntry: 6 reserved + 2 data_reference_index + 16 predefined/reserved, then width, height.
  const width = view.getUint16(entry.body + 24);
  const height = view.getUint16(entry.body + 26);
  const avcC = boxes(bytes, entry.body + 78, entry.end).find((b) => b.type === 'avcC');
  if (!avcC) throw new Error(`MP4: sample entry '${entry.type}' has no avcC`);
  let q = avcC.body;
  const profile = bytes[q + 1]!;
  const lengthSize = (bytes[q + 4]! & 3) + 1;
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  let n = bytes[q + 5]! & 31;
  q += 6;
  for (let i = 0; i < n; i++) {
    const len = view.getUint16(q);
    sps.push(bytes.subarray(q + 2, q + 2 + len));
    q += 2 + len;
  }
  n = bytes[q]!;
  q += 1;
  for (let i = 0; i < n; i++) {
    const len = view.getUint16(q);
    pps.push(bytes.subarray(q + 2, q + 2 + len));
    q += 2 + len;
  }

  const stsz = child(bytes, stbl, 'stsz');
  const fixedSize = view.getUint32(stsz.body + 4);
  const sampleCount = view.getUint32(stsz.body + 8);
  const sizes = Array.from({ length: sampleCount }, (_, i) => (fixedSize !== 0 ? fixedSize : view.getUint32(stsz.body + 12 + 4 * i)));
  const stblChildren = boxes(bytes, stbl.body, stbl.end);
  const stco = stblChildren.find((b) => b.type === 'stco' || b.type === 'co64');
  if (!stco) throw new Error('MP4: no chunk offsets');
  const chunkCount = view.getUint32(stco.body + 4);
  const chunkOffsets = Array.from({ length: chunkCount }, (_, i) =>
    stco.type === 'stco' ? view.getUint32(stco.body + 8 + 4 * i) : Number(view.getBigUint64(stco.body + 8 + 8 * i)),
  );
  const stsc = child(bytes, stbl, 'stsc');
  const stscCount = view.getUint32(stsc.body + 4);
  const runs = Array.from({ length: stscCount }, (_, i) => ({
    firstChunk: view.getUint32(stsc.body + 8 + 12 * i),
    perChunk: view.getUint32(stsc.body + 12 + 12 * i),
  }));
  const samples: Uint8Array[][] = [];
  let sample = 0;
  for (let c = 0; c < chunkCount && sample < sampleCount; c++) {
    const run = [...runs].reverse().find((r) => r.firstChunk <= c + 1)!;
    let offset = chunkOffsets[c]!;
    for (let k = 0; k < run.perChunk && sample < sampleCount; k++, sample++) {
      const end = offset + sizes[sample]!;
      const nals: Uint8Array[] = [];
      for (let p = offset; p < end; ) {
        let len = 0;
        for (let b = 0; b < lengthSize; b++) len = len * 256 + bytes[p + b]!;
        nals.push(bytes.subarray(p + lengthSize, p + lengthSize + len));
        p += lengthSize + len;
      }
      samples.push(nals);
      offset = end;
    }
  }
  return {
    topLevel: top.map((b) => b.type),
    codec: entry.type,
    profile,
    width,
    height,
    sampleCount,
    timescale,
    durationS: duration / timescale,
    sps,
    pps,
    samples,
  };
}

interface TinyDecoder {
  decode(nal: Uint8Array): void;
  release(): void;
}

/** Decodes every frame of an engine MP4 to RGB (BT.601 limited range, chroma upsampled by pixel replication). */
export async function decodeMp4(bytes: Uint8Array): Promise<RgbFrame[]> {
  const info = readMp4(bytes);
  // tinyh264's Emscripten glue was built for browsers and workers: it reads self.location once while loading.
  const g = globalThis as { self?: unknown };
  g.self ??= { location: { href: 'file:///' } };
  const { default: createModule } = (await import('tinyh264/es/TinyH264.js' as string)) as { default: () => Promise<unknown> };
  const { default: Decoder } = (await import('tinyh264/es/TinyH264Decoder.js' as string)) as {
    default: new (module: unknown, onPicture: (yuv: Uint8Array, w: number, h: number) => void) => TinyDecoder;
  };
  const module = await createModule();
  const frames: RgbFrame[] = [];
  const decoder = new Decoder(module, (yuv, w, h) => frames.push(yuvToRgb(yuv, w, h, info.width, info.height)));
  const startCode = (nal: Uint8Array): Uint8Array => {
    const out = new Uint8Array(nal.length + 4);
    out.set([0, 0, 0, 1]);
    out.set(nal, 4);
    return out;
  };
  try {
    for (const nal of [...info.sps, ...info.pps]) decoder.decode(startCode(nal));
    for (const sample of info.samples) for (const nal of sample) decoder.decode(startCode(nal));
  } finally {
    decoder.release();
  }
  return frames;
}

function yuvToRgb(yuv: Uint8Array, codedW: number, codedH: number, width: number, height: number): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  const ySize = codedW * codedH;
  const cw = codedW >> 1;
  const uBase = ySize;
  const vBase = ySize + (ySize >> 2);
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const Y = 1.164 * (yuv[y * codedW + x]! - 16);
      const c = (y >> 1) * cw + (x >> 1);
      const U = yuv[uBase + c]! - 128;
      const V = yuv[vBase + c]! - 128;
      const o = (y * width + x) * 3;
      data[o] = clamp(Y + 1.596 * V);
      data[o + 1] = clamp(Y - 0.392 * U - 0.813 * V);
      data[o + 2] = clamp(Y + 2.017 * U);
    }
  }
  return { width, height, data };
}

/** PSNR (dB) of decoded frames against their sources, over all frames and RGB channels. */
export function framesPsnr(decoded: readonly RgbFrame[], source: readonly RgbFrame[]): number {
  if (decoded.length !== source.length) throw new Error(`decoded ${decoded.length} frames, expected ${source.length}`);
  let se = 0;
  let n = 0;
  decoded.forEach((d, k) => {
    const s = source[k]!;
    if (d.width !== s.width || d.height !== s.height) throw new Error(`frame ${k} is ${d.width}x${d.height}, expected ${s.width}x${s.height}`);
    for (let i = 0; i < d.data.length; i++) {
      const e = d.data[i]! - s.data[i]!;
      se += e * e;
    }
    n += d.data.length;
  });
  const mse = se / n;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
