/**
 * Small stand-ins for onnxruntime's CUDA provider, laid out like the real ones, so `latentwalk gpu` is tested
 * without a 230 MB download: ELF shared-library files with the real one's DT_NEEDED list and version string
 * (and, optionally, a .nv_fatbin section), the npm package that carries them (package/Plugins/Linux/x64/), a
 * fake onnxruntime-node package to install into (with a stand-in for its NuGet install script), and a local npm
 * registry that serves packages to `npm pack`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface FakeElfOptions {
  needed?: readonly string[];
  soname?: string;
  runpath?: string;
  /** NUL-terminated strings placed in .rodata (a provider's version string, e.g. "1.29.0"). */
  rodata?: readonly string[];
  /** Raw bytes of a .nv_fatbin section. */
  fatbin?: Buffer;
  /** e_machine; 62 (x86-64) by default. */
  machine?: number;
}

/** An ELF64 little-endian shared object with just the sections the readers look at. */
export function fakeElf(options: FakeElfOptions = {}): Buffer {
  const dynstrParts: string[] = [''];
  const strAt = (text: string) => {
    const at = Buffer.byteLength(dynstrParts.join('\0') + '\0');
    dynstrParts.push(text);
    return at;
  };
  const dyn: [bigint, number][] = [];
  for (const lib of options.needed ?? []) dyn.push([1n, strAt(lib)]);
  if (options.soname) dyn.push([14n, strAt(options.soname)]);
  if (options.runpath) dyn.push([29n, strAt(options.runpath)]);
  dyn.push([0n, 0]);
  const dynstr = Buffer.from(`${dynstrParts.join('\0')}\0`, 'latin1');
  const dynamic = Buffer.alloc(dyn.length * 16);
  dyn.forEach(([tag, value], i) => {
    dynamic.writeBigInt64LE(tag, i * 16);
    dynamic.writeBigUInt64LE(BigInt(value), i * 16 + 8);
  });
  const rodata = Buffer.from(`\0some text\0${(options.rodata ?? []).join('\0')}\0more text\0`, 'latin1');
  const sections: { name: string; type: number; data: Buffer; link?: number }[] = [
    { name: '.dynstr', type: 3, data: dynstr },
    { name: '.dynamic', type: 6, data: dynamic, link: 1 },
    { name: '.rodata', type: 1, data: rodata },
    ...(options.fatbin ? [{ name: '.nv_fatbin', type: 1, data: options.fatbin }] : []),
  ];
  const shstrNames = ['', ...sections.map((s) => s.name), '.shstrtab'];
  const shstrtab = Buffer.from(`${shstrNames.join('\0')}\0`, 'latin1');
  const nameOffsets = shstrNames.map((_, i) => Buffer.byteLength(shstrNames.slice(0, i).map((n) => `${n}\0`).join('')));
  const all = [...sections, { name: '.shstrtab', type: 3, data: shstrtab }];
  // layout: header, then each section 8-byte aligned, then the section header table
  let offset = 64;
  const placed = all.map((s) => {
    offset = Math.ceil(offset / 8) * 8;
    const at = offset;
    offset += s.data.length;
    return at;
  });
  const shoff = Math.ceil(offset / 8) * 8;
  const shnum = all.length + 1;
  const file = Buffer.alloc(shoff + shnum * 64);
  file.write('\x7fELF', 0, 'latin1');
  file[4] = 2; // 64-bit
  file[5] = 1; // little-endian
  file[6] = 1;
  file.writeUInt16LE(3, 16); // ET_DYN
  file.writeUInt16LE(options.machine ?? 62, 18);
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(shoff), 40);
  file.writeUInt16LE(64, 52);
  file.writeUInt16LE(64, 58);
  file.writeUInt16LE(shnum, 60);
  file.writeUInt16LE(shnum - 1, 62);
  all.forEach((s, i) => {
    s.data.copy(file, placed[i]!);
    const h = shoff + (i + 1) * 64;
    file.writeUInt32LE(nameOffsets[i + 1]!, h);
    file.writeUInt32LE(s.type, h + 4);
    file.writeBigUInt64LE(BigInt(placed[i]!), h + 24);
    file.writeBigUInt64LE(BigInt(s.data.length), h + 32);
    file.writeUInt32LE('link' in s && s.link !== undefined ? s.link : 0, h + 40);
  });
  return file;
}

/** The DT_NEEDED list of the real CUDA 13 provider (com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9). */
export const CUDA13_NEEDED = ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcuda.so.1', 'libdl.so.2', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libc.so.6'];
export const CUDA12_NEEDED = ['libcublasLt.so.12', 'libcublas.so.12', 'libcurand.so.10', 'libcufft.so.11', 'libcudart.so.12', 'libcuda.so.1', 'libstdc++.so.6', 'libc.so.6'];

/** The two provider libraries of one build. */
export function fakeProviderLibraries(onnxruntime: string, cudaMajor: 12 | 13): { cuda: Buffer; shared: Buffer } {
  return {
    cuda: fakeElf({ needed: cudaMajor === 13 ? CUDA13_NEEDED : CUDA12_NEEDED, rodata: ['Replay', onnxruntime, 'Failed to get device id.'] }),
    shared: fakeElf({ needed: ['libstdc++.so.6', 'libc.so.6'], soname: 'libonnxruntime_providers_shared.so' }),
  };
}

export interface TarEntry {
  path: string;
  data: Buffer;
  mode?: number;
}

/** A gzipped ustar archive; paths over 100 bytes get a pax header, as npm writes them. */
export function tarGz(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, type: string, mode: number) => {
    const h = Buffer.alloc(512);
    h.write(name.slice(0, 100), 0, 'utf8');
    h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(type, 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  for (const e of entries) {
    if (Buffer.byteLength(e.path) > 100) {
      // "<length> path=<path>\n", where <length> counts its own digits too
      const body = ` path=${e.path}\n`;
      let length = Buffer.byteLength(body) + 1;
      while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
      const record = Buffer.from(`${length}${body}`);
      blocks.push(header('PaxHeader', record.length, 'x', 0o644), record, pad(record.length));
    }
    blocks.push(header(e.path, e.data.length, '0', e.mode ?? 0o644), e.data, pad(e.data.length));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export interface FakePackage {
  name: string;
  version: string;
  tarball: Buffer;
}

/** The provider's npm package, laid out like com.github.asus4.onnxruntime.linux-x64-gpu. */
export function fakeProviderPackage(options: { name?: string; version?: string; onnxruntime: string; cudaMajor: 12 | 13 }): FakePackage {
  const name = options.name ?? 'com.github.asus4.onnxruntime.linux-x64-gpu';
  const version = options.version ?? '0.4.9';
  const libs = fakeProviderLibraries(options.onnxruntime, options.cudaMajor);
  const dir = 'package/Plugins/Linux/x64';
  const meta = Buffer.from('fileFormatVersion: 2\n');
  const tarball = tarGz([
    { path: 'package/package.json', data: Buffer.from(JSON.stringify({ name, version, displayName: 'ONNX Runtime - Linux x64 GPU' })) },
    { path: 'package/README.md', data: Buffer.from('# fake\n') },
    { path: `${dir}/libonnxruntime_providers_cuda.so`, data: libs.cuda, mode: 0o755 },
    { path: `${dir}/libonnxruntime_providers_cuda.so.meta`, data: meta },
    { path: `${dir}/libonnxruntime_providers_shared.so`, data: libs.shared, mode: 0o755 },
    { path: `${dir}/libonnxruntime_providers_shared.so.meta`, data: meta },
    { path: `${dir}/libonnxruntime_providers_tensorrt.so`, data: fakeElf({ needed: ['libnvinfer.so.10'] }), mode: 0o755 },
  ]);
  return { name, version, tarball };
}

/**
 * An onnxruntime-node package folder of `version` with a stand-in install script: with
 * ONNXRUNTIME_NODE_INSTALL=cuda12 it copies the files in $FAKE_NUGET_DIR into bin/ (as the real one extracts them
 * from NuGet), or fails the way the real one does without network when FAKE_NUGET_DIR is unset.
 */
export function fakeOnnxruntimeNode(root: string, version: string): { dir: string; binDir: string } {
  const dir = join(root, 'onnxruntime-node');
  const binDir = join(dir, 'bin', 'napi-v6', process.platform, process.arch);
  mkdirSync(binDir, { recursive: true });
  mkdirSync(join(dir, 'script'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version }));
  writeFileSync(join(binDir, 'libonnxruntime.so.1'), fakeElf({ needed: ['libc.so.6'], soname: 'libonnxruntime.so.1', runpath: '$ORIGIN', rodata: [version] }));
  writeFileSync(
    join(dir, 'script', 'install.js'),
    `'use strict';
const fs = require('fs'), path = require('path');
if (process.env.ONNXRUNTIME_NODE_INSTALL !== 'cuda12') { console.error('install.js: unexpected flag ' + process.env.ONNXRUNTIME_NODE_INSTALL); process.exit(3); }
const from = process.env.FAKE_NUGET_DIR;
if (!from) { console.error('Error: getaddrinfo ENOTFOUND api.nuget.org\\n    at GetAddrInfoReqWrap.onlookupall (node:dns:122:26)'); process.exit(1); }
const bin = path.join(__dirname, '..', 'bin', 'napi-v6', process.platform, process.arch);
console.log('Downloading https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/${version}/microsoft.ml.onnxruntime.gpu.linux.${version}.nupkg');
for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(bin, f));
`,
  );
  return { dir, binDir };
}

/** Writes the two provider libraries of a build into `dir`. */
export function writeProviderLibraries(dir: string, onnxruntime: string, cudaMajor: 12 | 13): void {
  mkdirSync(dir, { recursive: true });
  const libs = fakeProviderLibraries(onnxruntime, cudaMajor);
  writeFileSync(join(dir, 'libonnxruntime_providers_cuda.so'), libs.cuda);
  writeFileSync(join(dir, 'libonnxruntime_providers_shared.so'), libs.shared);
}

/** Empty files named like shared libraries (enough for the loader-path resolution, which checks names). */
export function fakeLibraryDir(dir: string, sonames: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const soname of sonames) writeFileSync(join(dir, soname), fakeElf({ soname }));
  return dir;
}

/** A registry that serves `npm pack` the given packages; `requests` lists what it was asked for. */
export async function startFakeRegistry(packages: readonly FakePackage[]): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(path);
    const tarballOf = packages.find((p) => path === `/${p.name}/-/${p.name}-${p.version}.tgz`);
    if (tarballOf) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tarballOf.tarball.length });
      res.end(tarballOf.tarball);
      return;
    }
    const versions = packages.filter((p) => path === `/${p.name}`);
    if (versions.length === 0) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Not found' }));
      return;
    }
    const packument = {
      name: versions[0]!.name,
      'dist-tags': { latest: versions.at(-1)!.version },
      versions: Object.fromEntries(
        versions.map((p) => [
          p.version,
          {
            name: p.name,
            version: p.version,
            dist: {
              tarball: `${base}/${p.name}/-/${p.name}-${p.version}.tgz`,
              shasum: createHash('sha1').update(p.tarball).digest('hex'),
              integrity: `sha512-${createHash('sha512').update(p.tarball).digest('base64')}`,
            },
          },
        ]),
      ),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(packument));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: `${base}/`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
