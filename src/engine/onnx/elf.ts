/**
 * Just enough of a 64-bit little-endian ELF reader to answer what a shared library needs before it is loaded:
 * its sections, the libraries it names (DT_NEEDED), its search paths (DT_RUNPATH / DT_RPATH), and the
 * NUL-terminated strings of one section (onnxruntime's provider libraries carry their version, e.g. "1.29.0",
 * in .rodata). Reads only the ranges it needs, so a 230 MB provider library costs a few small reads.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: number;
  /** sh_link: for .dynamic, the index of its string table. */
  readonly link: number;
}

export interface ElfLibraryInfo {
  /** e_machine: 62 is x86-64, 183 is AArch64. */
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  readonly needed: readonly string[];
  readonly soname?: string;
  /** DT_RUNPATH entries ($ORIGIN left as is); DT_RPATH only counts when there is no RUNPATH. */
  readonly runpath: readonly string[];
  readonly rpath: readonly string[];
}

export class ElfFormatError extends Error {
  override readonly name = 'ElfFormatError';
}

export const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

const SHT_NOBITS = 8;
const DT = { NULL: 0n, NEEDED: 1n, SONAME: 14n, RPATH: 15n, RUNPATH: 29n } as const;

/** Reads `length` bytes at `offset` of an open file. */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) throw new ElfFormatError(`unexpected end of file at byte ${offset + done}`);
    done += n;
  }
  return buf;
}

function cString(buf: Buffer, at: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 ? buf.length : end);
}

/** The section table of an ELF64 little-endian file (throws ElfFormatError for anything else). */
export function readElfSections(path: string): { machine: number; sections: ElfSection[] } {
  const fd = openSync(path, 'r');
  try {
    return readSectionsFd(fd);
  } finally {
    closeSync(fd);
  }
}

function readSectionsFd(fd: number): { machine: number; sections: ElfSection[] } {
  const header = readAt(fd, 0, 64);
  if (header.readUInt32BE(0) !== 0x7f454c46) throw new ElfFormatError('not an ELF file');
  if (header[4] !== 2 || header[5] !== 1) throw new ElfFormatError('not a 64-bit little-endian ELF file');
  const machine = header.readUInt16LE(18);
  const shoff = Number(header.readBigUInt64LE(40));
  const shentsize = header.readUInt16LE(58);
  const shnum = header.readUInt16LE(60);
  const shstrndx = header.readUInt16LE(62);
  if (shoff === 0 || shnum === 0 || shentsize < 64) throw new ElfFormatError('no section table');
  const table = readAt(fd, shoff, shnum * shentsize);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = i * shentsize;
    return {
      nameAt: table.readUInt32LE(at),
      type: table.readUInt32LE(at + 4),
      addr: table.readBigUInt64LE(at + 16),
      offset: Number(table.readBigUInt64LE(at + 24)),
      size: Number(table.readBigUInt64LE(at + 32)),
      link: table.readUInt32LE(at + 40),
    };
  });
  const names = raw[shstrndx];
  if (!names) throw new ElfFormatError('no section name table');
  const strtab = readAt(fd, names.offset, names.size);
  return { machine, sections: raw.map(({ nameAt, ...s }) => ({ ...s, name: cString(strtab, nameAt) })) };
}

/** What the dynamic loader reads from a shared library before loading it. */
export function readElfLibraryInfo(path: string): ElfLibraryInfo {
  const fd = openSync(path, 'r');
  try {
    const { machine, sections } = readSectionsFd(fd);
    const dynamic = sections.find((s) => s.name === '.dynamic' && s.type !== SHT_NOBITS);
    const needed: string[] = [];
    const runpath: string[] = [];
    const rpath: string[] = [];
    let soname: string | undefined;
    if (dynamic) {
      const strSection = sections[dynamic.link];
      if (!strSection) throw new ElfFormatError('.dynamic has no string table');
      const strings = readAt(fd, strSection.offset, strSection.size);
      const entries = readAt(fd, dynamic.offset, dynamic.size);
      for (let at = 0; at + 16 <= entries.length; at += 16) {
        const tag = entries.readBigInt64LE(at);
        if (tag === DT.NULL) break;
        const value = Number(entries.readBigUInt64LE(at + 8));
        if (tag === DT.NEEDED) needed.push(cString(strings, value));
        else if (tag === DT.SONAME) soname = cString(strings, value);
        else if (tag === DT.RUNPATH) runpath.push(...cString(strings, value).split(':').filter(Boolean));
        else if (tag === DT.RPATH) rpath.push(...cString(strings, value).split(':').filter(Boolean));
      }
    }
    return { machine, sections, needed, runpath, rpath, ...(soname !== undefined ? { soname } : {}) };
  } finally {
    closeSync(fd);
  }
}

/**
 * The NUL-terminated strings of one section that start with `prefix` and match `pattern` (whole string, under
 * 64 characters). The prefix is searched natively, so a 26 MB .rodata takes milliseconds.
 */
export function sectionStrings(path: string, sectionName: string, prefix: string, pattern: RegExp): string[] {
  const fd = openSync(path, 'r');
  try {
    const section = readSectionsFd(fd).sections.find((s) => s.name === sectionName && s.type !== SHT_NOBITS);
    if (!section) return [];
    const found = new Set<string>();
    const needle = Buffer.from(`\0${prefix}`, 'latin1');
    const chunk = 1 << 22;
    // Chunks overlap by 64 bytes, so a string across a boundary is seen whole in the next one.
    for (let start = 0; start < section.size; start += chunk) {
      const from = Math.max(0, start - 64);
      const buf = readAt(fd, section.offset + from, Math.min(section.size, start + chunk) - from);
      for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) {
        const end = buf.indexOf(0, at + 1);
        if (end < 0 || end - at > 64) continue;
        const text = buf.toString('latin1', at + 1, end);
        if (pattern.test(text)) found.add(text);
      }
    }
    return [...found];
  } finally {
    closeSync(fd);
  }
}

/** onnxruntime versions (1.MINOR.PATCH with a two-digit minor) written in a library's .rodata. */
export function onnxruntimeVersionsIn(path: string): string[] {
  return sectionStrings(path, '.rodata', '1.', /^1\.[1-9]\d\.\d{1,3}$/);
}
