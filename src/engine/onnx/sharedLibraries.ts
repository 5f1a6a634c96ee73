/**
 * Which of a shared library's dependencies the dynamic loader would find, answered without loading anything:
 * the library's DT_RPATH / DT_RUNPATH, LD_LIBRARY_PATH (as this process started with it), /etc/ld.so.cache and
 * the default directories, in glibc's order. onnxruntime's CUDA provider is dlopened by path and fails on the
 * first missing dependency only; this names all of them at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readElfLibraryInfo } from './elf.ts';

export interface LibrarySearch {
  /** LD_LIBRARY_PATH as the process started with it (changing it later does not change dlopen). */
  ldLibraryPath?: string;
  /** Where /etc/ld.so.cache points each soname (for tests); read from the file when absent. */
  cache?: ReadonlyMap<string, string>;
  /** glibc's trusted directories, searched last. */
  defaultDirs?: readonly string[];
}

export interface DependencyStatus {
  readonly soname: string;
  /** Where the loader would find it, or undefined when it would not. */
  readonly path?: string;
}

const DEFAULT_DIRS_X64 = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
const DEFAULT_DIRS_ARM64 = ['/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** The start-up value, before anything in this process could change it. */
const STARTUP_LD_LIBRARY_PATH = process.env['LD_LIBRARY_PATH'];

let cachedLdCache: Map<string, string> | undefined;

/** sonames in /etc/ld.so.cache for this process's architecture (glibc's "glibc-ld.so.cache1.1" format). */
export function readLdCache(path = '/etc/ld.so.cache', arch: string = process.arch): Map<string, string> {
  const out = new Map<string, string>();
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    return out;
  }
  const base = data.indexOf('glibc-ld.so.cache1.1', 0, 'latin1');
  if (base < 0 || data.length < base + 48) return out;
  const count = data.readUInt32LE(base + 20);
  // FLAG_ELF_LIBC6 (3) with FLAG_X8664_LIB64 (0x0300) or FLAG_AARCH64_LIB64 (0x0a00)
  const wanted = arch === 'arm64' ? 0x0a03 : 0x0303;
  const text = (at: number) => {
    const end = data.indexOf(0, base + at);
    return data.toString('utf8', base + at, end < 0 ? data.length : end);
  };
  for (let i = 0; i < count; i++) {
    const at = base + 48 + i * 24;
    if (at + 24 > data.length) break;
    if ((data.readInt32LE(at) & 0xffff) !== wanted) continue;
    const soname = text(data.readUInt32LE(at + 4));
    if (!out.has(soname)) out.set(soname, text(data.readUInt32LE(at + 8)));
  }
  return out;
}

function ldCache(): Map<string, string> {
  cachedLdCache ??= readLdCache();
  return cachedLdCache;
}

function expandOrigin(dir: string, origin: string): string {
  return dir.replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin);
}

/** The directories glibc searches for a library's dependencies, in order (DT_RPATH only without DT_RUNPATH). */
export interface LoaderPath {
  readonly dirs: readonly string[];
  readonly cache: ReadonlyMap<string, string>;
  readonly defaultDirs: readonly string[];
}

/** The loader path for the dependencies of `libraryPath`, or for a library with no search paths of its own. */
export function loaderPath(libraryPath: string | undefined, search: LibrarySearch = {}): LoaderPath {
  const info = libraryPath ? readElfLibraryInfo(libraryPath) : undefined;
  const origin = libraryPath ? dirname(libraryPath) : '';
  const rpath = info && info.runpath.length === 0 ? info.rpath.map((d) => expandOrigin(d, origin)) : [];
  const env = (search.ldLibraryPath ?? STARTUP_LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const runpath = (info?.runpath ?? []).map((d) => expandOrigin(d, origin));
  return {
    dirs: [...rpath, ...env, ...runpath],
    cache: search.cache ?? ldCache(),
    defaultDirs: search.defaultDirs ?? (process.arch === 'arm64' ? DEFAULT_DIRS_ARM64 : DEFAULT_DIRS_X64),
  };
}

/** Where the loader would find `soname` on this path, or undefined. */
export function findOnLoaderPath(soname: string, path: LoaderPath): string | undefined {
  for (const dir of path.dirs) {
    const candidate = join(dir, soname);
    if (existsSync(candidate)) return candidate;
  }
  const cached = path.cache.get(soname);
  if (cached && existsSync(cached)) return cached;
  for (const dir of path.defaultDirs) {
    const candidate = join(dir, soname);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Resolves each DT_NEEDED entry of `libraryPath` the way glibc would when dlopen()ing it, plus `extra` sonames
 * the library dlopens later (cuDNN), resolved the same way.
 */
export function resolveDependencies(libraryPath: string, extra: readonly string[] = [], search: LibrarySearch = {}): DependencyStatus[] {
  const path = loaderPath(libraryPath, search);
  const { needed } = readElfLibraryInfo(libraryPath);
  return [...needed, ...extra.filter((s) => !needed.includes(s))].map((soname) => status(soname, path));
}

/** Resolves sonames on the plain loader path (no library's own search paths). */
export function resolveSonames(sonames: readonly string[], search: LibrarySearch = {}): DependencyStatus[] {
  const path = loaderPath(undefined, search);
  return sonames.map((soname) => status(soname, path));
}

function status(soname: string, path: LoaderPath): DependencyStatus {
  const found = findOnLoaderPath(soname, path);
  return found ? { soname, path: found } : { soname };
}
