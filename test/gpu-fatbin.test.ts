/**
 * bench/gpu/fatbin.ts: keeping only sm_90's GPU code in a CUDA library (how the 230 MB provider reaches the GPU
 * host in 64 MiB runs). Checked on a library laid out like the real one: fatbinaries with one compressed image
 * per architecture, one of them with no sm_90 image at all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { FATBIN_KIND, fatbinSection, parseFatbinaries, stripFatbinaries } from '../bench/gpu/fatbin.ts';
import { readElfLibraryInfo } from '../src/engine/onnx/elf.ts';
import { fakeElf } from './harness/fakeProvider.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-fatbin-'));

/**
 * One image as nvcc writes it: a 64-byte entry header (kind, version 0x0101, header size, payload size padded to
 * 8 bytes, the compressed size at +20, arch at +28, flags at +40) and its payload.
 */
function image(arch: number, payload: Buffer, kind: number = FATBIN_KIND.cubin): Buffer {
  const padded = Buffer.concat([payload, Buffer.alloc((8 - (payload.length % 8)) % 8)]);
  const h = Buffer.alloc(64);
  h.writeUInt16LE(kind, 0);
  h.writeUInt16LE(0x0101, 2);
  h.writeUInt32LE(64, 4);
  h.writeBigUInt64LE(BigInt(padded.length), 8);
  h.writeUInt32LE(payload.length, 20);
  h.writeUInt32LE(0x00010008, 24);
  h.writeUInt32LE(arch, 28);
  h.writeBigUInt64LE(arch === 90 ? 0x108011n : 0x8011n, 40);
  return Buffer.concat([h, padded]);
}

function fatbinary(images: Buffer[]): Buffer {
  const body = Buffer.concat(images);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(0xba55ed50, 0);
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(16, 6);
  h.writeBigUInt64LE(BigInt(body.length), 8);
  return Buffer.concat([h, body]);
}

describe('stripping a CUDA library to one GPU architecture', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  // payloads: random (like zstd-compressed cubins), of lengths that are not multiples of 8
  const p = (n: number) => randomBytes(n);
  const sm90a = p(5003);
  const sm90b = p(7001);
  const ptx = p(999);
  const containers = [
    fatbinary([image(75, p(3001)), image(80, p(4001)), image(90, sm90a), image(120, p(6007))]),
    fatbinary([image(86, p(2003)), image(90, sm90b), image(70, ptx, FATBIN_KIND.ptx)]),
    fatbinary([image(120, p(1500))]), // a Blackwell-only kernel: no sm_90 image, left whole
  ];
  const section = Buffer.concat(containers);
  const lib = fakeElf({ needed: ['libcudart.so.13', 'libc.so.6'], rodata: ['1.29.0'], fatbin: section });
  const path = join(work, 'libprovider.so');
  writeFileSync(path, lib);

  it('keeps each fatbinary in place with only its sm_90 images (and PTX it could compile), unchanged; the rest becomes zeros', () => {
    const where = fatbinSection(path);
    assert.equal(where.size, section.length);
    const before = parseFatbinaries(lib, where.offset, where.size);
    assert.deepEqual(before.map((f) => f.entries.map((e) => e.arch)), [[75, 80, 90, 120], [86, 90, 70], [120]]);

    const file = Buffer.from(lib);
    const stats = stripFatbinaries(file, where.offset, where.size, [90]);
    assert.equal(file.length, lib.length, 'the file keeps its size and layout');
    assert.deepEqual(file.subarray(0, where.offset), lib.subarray(0, where.offset), 'nothing before .nv_fatbin changes');
    assert.deepEqual(file.subarray(where.offset + where.size), lib.subarray(where.offset + where.size), 'nothing after it changes');

    const after = parseFatbinaries(file, where.offset, where.size);
    assert.deepEqual(after.map((f) => f.offset), before.map((f) => f.offset), 'every fatbinary starts where its registration points');
    assert.deepEqual(after.map((f) => f.entries.map((e) => `${e.kind}:${e.arch}`)), [['2:90'], ['2:90', '1:70'], ['2:120']]);
    const bytesOf = (e: { offset: number; length: number }, buf: Buffer) => buf.subarray(e.offset, e.offset + e.length);
    assert.deepEqual(bytesOf(after[0]!.entries[0]!, file), bytesOf(before[0]!.entries[2]!, lib), 'the sm_90 image, byte for byte');
    assert.deepEqual(bytesOf(after[1]!.entries[0]!, file), bytesOf(before[1]!.entries[1]!, lib));
    assert.deepEqual(bytesOf(after[1]!.entries[1]!, file), bytesOf(before[1]!.entries[2]!, lib), 'PTX for an older virtual architecture stays');
    assert.deepEqual(file.subarray(after[2]!.offset, after[2]!.offset + containers[2]!.length), containers[2], 'the fatbinary without sm_90 stays whole');
    // what was dropped is zeros now
    const end0 = after[0]!.entries.at(-1)!.offset + after[0]!.entries.at(-1)!.length;
    assert.ok(file.subarray(end0, after[1]!.offset).every((b) => b === 0));

    assert.equal(stats.fatbinaries, 3);
    assert.equal(stats.untouched, 1);
    assert.deepEqual(Object.keys(stats.dropped).sort(), ['sm_120', 'sm_75', 'sm_80', 'sm_86']);
    assert.equal(stats.kept['sm_90']!.images, 2);
    // the point of it: the stripped library compresses to about its kept images
    const squeezed = gzipSync(file).length;
    assert.ok(squeezed < gzipSync(lib).length * 0.6, `${squeezed} vs ${gzipSync(lib).length}`);
  });

  it('the command line: list and strip, and the library still reads as the same shared object', () => {
    const out = join(work, 'stripped.so');
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/gpu/fatbin.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const list = run('list', path);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /in 3 fatbinaries: compute_70 1 .*sm_75 1 .*sm_90 2 .*sm_120 2/);
    const strip = run('strip', path, out, '--keep', '90');
    assert.equal(strip.status, 0, strip.stderr);
    assert.match(strip.stdout, /kept compute_70 1 .*sm_90 2 .*; dropped .*sm_80 1 .*; 1 of 3 fatbinaries had no image for sm_90 and stay whole/);
    assert.equal(statSync(out).size, statSync(path).size);
    assert.deepEqual(readElfLibraryInfo(out).needed, ['libcudart.so.13', 'libc.so.6']);
    assert.match(run('list', out).stdout, /sm_90 2 .*sm_120 1/);
    assert.notDeepEqual(readFileSync(out), readFileSync(path));
  });
});
