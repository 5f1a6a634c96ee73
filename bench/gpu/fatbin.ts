/**
 * Keeps only the GPU code a card needs in a CUDA shared library, so onnxruntime's 230 MB CUDA provider can
 * travel to a GPU host that takes 64 MiB per run. Its `.nv_fatbin` section (166 MB) holds one fatbinary per
 * CUDA source file, each with a compiled image (cubin, zstd-compressed by nvcc) per architecture: sm_75, 80,
 * 86, 89, 90 and 120. An H100 or H200 (sm_90) runs only the sm_90 images (cubins run on their own major
 * version, and these fatbinaries hold no PTX to compile for it), so the others are dropped:
 *
 *   - each fatbinary keeps its place (the registration records in `.nvFatBinSegment` point at its start), its
 *     header's size shrinks to the entries it keeps, which move to its front unchanged, and the freed bytes
 *     become zeros, which xz then removes;
 *   - a fatbinary with no image for the kept architectures stays as it is (one, an sm_120-only kernel here);
 *   - nothing outside `.nv_fatbin` changes, and the file keeps its size and layout.
 *
 * The result behaves on the kept architectures as the original does (the same images are there to choose
 * from) and has no code for any other card: install it only on the card it was made for.
 *
 *   node --import tsx bench/gpu/fatbin.ts list LIB
 *   node --import tsx bench/gpu/fatbin.ts strip LIB OUT [--keep 90]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { readElfSections } from '../../src/engine/onnx/elf.ts';

const FATBIN_MAGIC = 0xba55ed50;
/** Entry kinds in a fatbinary. */
export const FATBIN_KIND = { ptx: 1, cubin: 2 } as const;

export interface FatbinEntry {
  /** Offset of the entry header in the file. */
  readonly offset: number;
  readonly kind: number;
  /** Header plus payload. */
  readonly length: number;
  /** sm_XY as the number XY. */
  readonly arch: number;
}

export interface Fatbinary {
  readonly offset: number;
  readonly headerSize: number;
  readonly entries: readonly FatbinEntry[];
}

export interface StripStats {
  readonly fatbinaries: number;
  /** Fatbinaries left whole: no image for the kept architectures. */
  readonly untouched: number;
  readonly kept: Record<string, { images: number; bytes: number }>;
  readonly dropped: Record<string, { images: number; bytes: number }>;
  readonly sectionBytes: number;
}

/** Where a library's `.nv_fatbin` section is. */
export function fatbinSection(path: string): { offset: number; size: number } {
  const section = readElfSections(path).sections.find((s) => s.name === '.nv_fatbin');
  if (!section) throw new Error(`${path} has no .nv_fatbin section (no CUDA device code)`);
  return section;
}

/** Parses the fatbinaries of a `.nv_fatbin` section held in `file` at [offset, offset + size). */
export function parseFatbinaries(file: Buffer, offset: number, size: number): Fatbinary[] {
  const out: Fatbinary[] = [];
  const end = offset + size;
  let at = offset;
  while (at < end) {
    // fatbinaries are 8-byte aligned; zero padding may sit between them
    if (file.readUInt32LE(at) !== FATBIN_MAGIC) {
      if (file[at] === 0) {
        at = offset + (Math.floor((at - offset) / 8) + 1) * 8;
        continue;
      }
      throw new Error(`no fatbinary at section offset ${at - offset}`);
    }
    const headerSize = file.readUInt16LE(at + 6);
    const fatSize = Number(file.readBigUInt64LE(at + 8));
    const entries: FatbinEntry[] = [];
    let e = at + headerSize;
    const stop = at + headerSize + fatSize;
    if (stop > end) throw new Error(`fatbinary at section offset ${at - offset} runs past the section`);
    while (e < stop) {
      const kind = file.readUInt16LE(e);
      const entryHeader = file.readUInt32LE(e + 4);
      const payload = Number(file.readBigUInt64LE(e + 8));
      const arch = file.readUInt32LE(e + 28);
      if (entryHeader < 64 || e + entryHeader + payload > stop) throw new Error(`bad fatbinary entry at section offset ${e - offset}`);
      entries.push({ offset: e, kind, length: entryHeader + payload, arch });
      e += entryHeader + payload;
    }
    out.push({ offset: at, headerSize, entries });
    at = stop;
  }
  return out;
}

const label = (entry: FatbinEntry) => `${entry.kind === FATBIN_KIND.ptx ? 'compute' : 'sm'}_${entry.arch}`;

/**
 * Drops, in place, every image not for `keep` (cubins of those architectures; PTX of an architecture at or
 * below the highest kept one stays too, as the driver could compile it). Returns what was kept and dropped.
 */
export function stripFatbinaries(file: Buffer, offset: number, size: number, keep: readonly number[]): StripStats {
  const fatbinaries = parseFatbinaries(file, offset, size);
  const top = Math.max(...keep);
  const wanted = (e: FatbinEntry) => (e.kind === FATBIN_KIND.ptx ? e.arch <= top : keep.includes(e.arch));
  const kept: StripStats['kept'] = {};
  const dropped: StripStats['dropped'] = {};
  const count = (into: StripStats['kept'], e: FatbinEntry) => {
    const slot = (into[label(e)] ??= { images: 0, bytes: 0 });
    slot.images++;
    slot.bytes += e.length;
  };
  let untouched = 0;
  for (const fb of fatbinaries) {
    const keepEntries = fb.entries.filter(wanted);
    if (keepEntries.length === 0) {
      untouched++;
      for (const e of fb.entries) count(kept, e);
      continue;
    }
    const body = Buffer.concat(keepEntries.map((e) => file.subarray(e.offset, e.offset + e.length)));
    const start = fb.offset + fb.headerSize;
    const oldSize = Number(file.readBigUInt64LE(fb.offset + 8));
    body.copy(file, start);
    file.fill(0, start + body.length, start + oldSize);
    file.writeBigUInt64LE(BigInt(body.length), fb.offset + 8);
    for (const e of fb.entries) count(wanted(e) ? kept : dropped, e);
  }
  return { fatbinaries: fatbinaries.length, untouched, kept, dropped, sectionBytes: size };
}

function summary(stats: Record<string, { images: number; bytes: number }>): string {
  return Object.entries(stats)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([arch, s]) => `${arch} ${s.images} (${(s.bytes / 1e6).toFixed(1)} MB)`)
    .join(', ');
}

function main(argv: string[]): void {
  const [command, input, output] = argv;
  const keepAt = argv.indexOf('--keep');
  const keep = (keepAt >= 0 ? argv[keepAt + 1]! : '90').split(',').map(Number);
  if (!input || (command !== 'list' && command !== 'strip') || (command === 'strip' && !output) || keep.some((k) => !Number.isInteger(k))) {
    console.error('usage: fatbin.ts list LIB | fatbin.ts strip LIB OUT [--keep 90[,100]]');
    process.exit(2);
  }
  const section = fatbinSection(input);
  const file = readFileSync(input);
  if (command === 'list') {
    const all: Record<string, { images: number; bytes: number }> = {};
    const fbs = parseFatbinaries(file, section.offset, section.size);
    for (const e of fbs.flatMap((f) => f.entries)) {
      const slot = (all[label(e)] ??= { images: 0, bytes: 0 });
      slot.images++;
      slot.bytes += e.length;
    }
    console.log(`${input}: .nv_fatbin ${(section.size / 1e6).toFixed(1)} MB in ${fbs.length} fatbinaries: ${summary(all)}`);
    return;
  }
  const stats = stripFatbinaries(file, section.offset, section.size, keep);
  writeFileSync(output!, file, { mode: 0o755 });
  console.log(`${output}: kept ${summary(stats.kept)}; dropped ${summary(stats.dropped)}; ${stats.untouched} of ${stats.fatbinaries} fatbinaries had no image for sm_${keep.join(',')} and stay whole`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
