/**
 * `latentwalk gpu check`: which execution providers can load on this host, and for each that cannot, why:
 * the missing library by name and where it usually comes from. Works on any host: the libraries are resolved
 * the way the dynamic loader would (nothing is loaded for that), and only a provider whose libraries are all
 * there is started through onnxruntime (unless --static). Libraries missing from the loader path but present
 * elsewhere (PyTorch's CUDA wheels, a CUDA toolkit not in ld.so.conf) are named with the LD_LIBRARY_PATH that
 * would make them count.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveDependencies, resolveSonames, type DependencyStatus, type LibrarySearch } from '../../engine/onnx/sharedLibraries.ts';
import {
  CUDA_PROVIDER_FILE,
  INSTALL_RECORD,
  PROVIDER_FILES,
  VARIANT_FACTS,
  findOnnxruntime,
  inspectCudaProvider,
  librarySource,
  variantOf,
  type CudaVariant,
  type OnnxruntimeInstall,
} from './cudaProviders.ts';

export interface LibraryReport {
  readonly soname: string;
  /** Where the loader finds it; absent when it does not. */
  readonly path?: string;
  /** Loaded by the provider later (dlopen), not with it. */
  readonly later?: boolean;
  /** Where it usually comes from (printed when missing). */
  readonly source: string;
  /** A copy outside the loader path (LD_LIBRARY_PATH would make it count). */
  readonly elsewhere?: string;
}

export interface ProviderReport {
  readonly provider: 'cpu' | 'webgpu' | 'cuda';
  /** true: starts here; false: cannot; undefined: not started (--static) though nothing is missing. */
  readonly loads: boolean | undefined;
  readonly summary: string;
  readonly libraries: readonly LibraryReport[];
  /** cuda without an installed provider: what each build would need here. */
  readonly variants?: readonly { variant: CudaVariant; libraries: LibraryReport[]; complete: boolean }[];
}

export interface CheckReport {
  readonly onnxruntime: { version: string; dir: string };
  readonly platform: string;
  readonly providers: readonly ProviderReport[];
  /** Folders to put on LD_LIBRARY_PATH for libraries found outside the loader path. */
  readonly ldLibraryPath: readonly string[];
}

export interface CheckOptions {
  onnxruntimeDir?: string;
  /** Do not start providers through onnxruntime; the driver (libcuda.so.1) is not required (image builds). */
  static?: boolean;
  /** More folders to look in for missing libraries. */
  searchDirs?: readonly string[];
  /** For tests: the loader's view (LD_LIBRARY_PATH, ld.so.cache, default folders). */
  loader?: LibrarySearch;
  /** Ask python3 where its packages are (PyTorch's CUDA wheels). Default true. */
  askPython?: boolean;
}

const DRIVER_LIBRARY = 'libcuda.so.1';

export async function checkProviders(options: CheckOptions = {}): Promise<CheckReport> {
  const ort = findOnnxruntime(options.onnxruntimeDir);
  const isLoadedOrt = options.onnxruntimeDir === undefined;
  const elsewhereDirs = candidateLibraryDirs(options.searchDirs ?? [], options.askPython ?? true);
  const locate = (soname: string) => elsewhereDirs.map((d) => join(d, soname)).find((p) => existsSync(p));
  const describe = (deps: DependencyStatus[], cudaMajor: number, later: readonly string[]): LibraryReport[] =>
    deps.map((d) => {
      const elsewhere = d.path ? undefined : locate(d.soname);
      return { ...d, source: librarySource(d.soname, cudaMajor), ...(later.includes(d.soname) ? { later: true } : {}), ...(elsewhere ? { elsewhere } : {}) };
    });
  const probe = async (provider: 'webgpu' | 'cuda'): Promise<string | undefined> => {
    const { probeProvider } = await import('../../engine/onnx/providers.ts');
    return probeProvider(provider);
  };

  const providers: ProviderReport[] = [{ provider: 'cpu', loads: true, summary: 'bundled with onnxruntime-node', libraries: [] }];

  // ---- webgpu: bundled on Linux x64; Dawn needs the Vulkan loader and a Vulkan driver
  if (process.platform === 'linux') {
    const libraries = describe(resolveSonames(['libvulkan.so.1'], options.loader), 0, []);
    const missing = libraries.filter((l) => !l.path);
    if (missing.length) providers.push({ provider: 'webgpu', loads: false, summary: `${names(missing)} not found`, libraries });
    else if (options.static || !isLoadedOrt) providers.push({ provider: 'webgpu', loads: undefined, summary: 'Vulkan loader found; not started (--static)', libraries });
    else {
      const reason = await probe('webgpu');
      providers.push({ provider: 'webgpu', loads: reason === undefined, summary: reason ?? 'starts (Dawn found a Vulkan adapter)', libraries });
    }
  } else {
    providers.push({ provider: 'webgpu', loads: undefined, summary: `not checked on ${process.platform}`, libraries: [] });
  }

  providers.push(await checkCuda(ort, options, describe, isLoadedOrt ? probe : undefined));

  const ldLibraryPath = [...new Set(providers.flatMap((p) => [...p.libraries, ...(p.variants?.flatMap((v) => v.libraries) ?? [])]).flatMap((l) => (l.elsewhere ? [l.elsewhere.slice(0, l.elsewhere.lastIndexOf('/'))] : [])))];
  return { onnxruntime: { version: ort.version, dir: ort.dir }, platform: `${process.platform}/${process.arch}`, providers, ldLibraryPath };
}

async function checkCuda(
  ort: OnnxruntimeInstall,
  options: CheckOptions,
  describe: (deps: DependencyStatus[], cudaMajor: number, later: readonly string[]) => LibraryReport[],
  probe: ((provider: 'cuda') => Promise<string | undefined>) | undefined,
): Promise<ProviderReport> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { provider: 'cuda', loads: false, summary: `no CUDA provider builds for ${process.platform}/${process.arch}`, libraries: [] };
  const required = (l: LibraryReport) => !(options.static && l.soname === DRIVER_LIBRARY);
  const missingFiles = PROVIDER_FILES.filter((f) => !existsSync(join(ort.binDir, f)));
  if (missingFiles.length) {
    // Nothing installed: say what each build would need here, and which one this host can run.
    const variants = (['cuda13', 'cuda12'] as const).map((variant) => {
      const facts = VARIANT_FACTS[variant];
      const libraries = describe(resolveSonames([...facts.needs, ...facts.loadsLater], options.loader), facts.cudaMajor, facts.loadsLater);
      return { variant, libraries, complete: libraries.filter(required).every((l) => l.path || l.elsewhere) };
    });
    const fits = variants.filter((v) => v.complete).map((v) => v.variant);
    const advice = fits.length
      ? `this host has the libraries of ${fits.join(' and ')}: ${VARIANT_FACTS[fits[0]!].install}`
      : `this host has the libraries of neither build: ${variants.map((v) => VARIANT_FACTS[v.variant].install).join(' or ')} once it has them`;
    return { provider: 'cuda', loads: false, summary: `no CUDA provider installed next to onnxruntime-node ${ort.version} (${missingFiles.join(', ')} missing); ${advice}`, libraries: [], variants };
  }
  const providerPath = join(ort.binDir, CUDA_PROVIDER_FILE);
  const build = inspectCudaProvider(providerPath);
  const record = readRecord(ort.binDir);
  const variant = variantOf(build.cudaMajor);
  const what = `${variant ? `the CUDA ${build.cudaMajor} provider` : 'a CUDA provider'} of onnxruntime ${build.onnxruntime.join('/') || '(unknown version)'}${record ? ` (from ${record.source})` : ''}`;
  const later = variant ? VARIANT_FACTS[variant].loadsLater : ['libcudnn.so.9'];
  const libraries = describe(
    resolveDependencies(providerPath, later, options.loader).filter((d) => !/^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+)\.so|^ld-linux/.test(d.soname) || !d.path),
    build.cudaMajor ?? 0,
    later,
  );
  // no version string at all (a build that does not carry one) is left to onnxruntime's own check
  if (build.onnxruntime.length > 0 && !build.onnxruntime.includes(ort.version)) {
    return { provider: 'cuda', loads: false, summary: `${what} does not fit onnxruntime-node ${ort.version} (a provider loads only into its own version): reinstall with latentwalk gpu install ${variant ?? 'cuda13'}`, libraries };
  }
  const missing = libraries.filter((l) => !l.path && required(l));
  if (missing.length) return { provider: 'cuda', loads: false, summary: `${what} is installed; ${names(missing)} not found`, libraries };
  if (!probe || options.static) return { provider: 'cuda', loads: undefined, summary: `${what} is installed and its libraries are found; not started${options.static ? ' (--static)' : ' (another onnxruntime-node)'}`, libraries };
  const reason = await probe('cuda');
  return { provider: 'cuda', loads: reason === undefined, summary: reason === undefined ? `${what} starts` : `${what}: ${reason}`, libraries };
}

function names(libraries: readonly LibraryReport[]): string {
  return libraries.map((l) => l.soname).join(', ');
}

function readRecord(binDir: string): { source: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(binDir, INSTALL_RECORD), 'utf8')) as { source: string };
  } catch {
    return undefined;
  }
}

/** Lists `pattern`'s matches, where `*` may stand for one path segment (or part of one). */
function expand(pattern: string): string[] {
  const parts = pattern.split('/');
  let found = [parts[0] === '' ? '/' : parts[0]!];
  for (const part of parts.slice(1)) {
    if (!part) continue;
    if (!part.includes('*')) {
      found = found.map((f) => join(f, part)).filter((f) => existsSync(f));
      continue;
    }
    const re = new RegExp(`^${part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    found = found.flatMap((f) => {
      try {
        return readdirSync(f).filter((e) => re.test(e)).sort().map((e) => join(f, e));
      } catch {
        return [];
      }
    });
  }
  return found;
}

/**
 * Folders where CUDA libraries often are without being on the loader path: CUDA toolkits, the driver's
 * folder in containers, and the nvidia/<lib>/lib folders of Python's CUDA wheels (PyTorch brings them).
 */
export function candidateLibraryDirs(extra: readonly string[], askPython: boolean): string[] {
  const sites = new Set<string>();
  if (askPython) {
    const python = spawnSync('python3', ['-c', 'import site, sys; print("\\n".join(site.getsitepackages() + [site.getusersitepackages()]))'], { encoding: 'utf8', timeout: 10_000 });
    if (python.status === 0) for (const line of python.stdout.split('\n')) if (line.trim()) sites.add(line.trim());
  }
  const env = (key: string) => process.env[key];
  for (const pattern of [
    '/usr/lib/python3/dist-packages',
    '/usr/local/lib/python3*/dist-packages',
    '/usr/local/lib/python3*/site-packages',
    '/opt/*/.venv/lib/python3*/site-packages',
    '/opt/conda/lib/python3*/site-packages',
    `${homedir()}/.local/lib/python3*/site-packages`,
    ...(env('VIRTUAL_ENV') ? [`${env('VIRTUAL_ENV')}/lib/python3*/site-packages`] : []),
    ...(env('CONDA_PREFIX') ? [`${env('CONDA_PREFIX')}/lib/python3*/site-packages`] : []),
  ]) {
    for (const dir of expand(pattern)) sites.add(dir);
  }
  const dirs = [
    ...extra,
    ...[...sites].flatMap((site) => [...expand(`${site}/nvidia/*/lib`), ...expand(`${site}/torch/lib`)]),
    ...expand('/usr/local/cuda/lib64'),
    ...expand('/usr/local/cuda/targets/x86_64-linux/lib'),
    ...expand('/usr/local/cuda-*/lib64'),
    ...expand('/usr/local/cuda*/lib'),
    ...expand('/usr/local/cuda-*/targets/x86_64-linux/lib'),
    ...expand('/usr/local/nvidia/lib64'),
    ...expand('/usr/lib/wsl/lib'),
    ...(env('CONDA_PREFIX') ? expand(`${env('CONDA_PREFIX')}/lib`) : []),
  ];
  return [...new Set(dirs)];
}

/** The report as the CLI prints it. */
export function formatReport(report: CheckReport): string {
  const out = [`onnxruntime-node ${report.onnxruntime.version} (${report.onnxruntime.dir}), ${report.platform}`];
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(1, n - s.length));
  const libraryLines = (libraries: readonly LibraryReport[], indent: string) => {
    const width = Math.max(0, ...libraries.map((l) => l.soname.length)) + 2;
    return libraries
      .filter((l) => !l.path)
      .map((l) => `${indent}${pad(l.soname, width)}missing${l.later ? ' (loaded when a model needs it)' : ''}: ${l.source}${l.elsewhere ? `; found at ${l.elsewhere}, not on the loader path` : ''}`);
  };
  for (const p of report.providers) {
    const state = p.loads === true ? 'loads' : p.loads === false ? 'cannot load' : 'not started';
    out.push(`${pad(p.provider, 8)}${state}: ${p.summary}`);
    out.push(...libraryLines(p.libraries, '          '));
    for (const v of p.variants ?? []) {
      const missing = v.libraries.filter((l) => !l.path);
      out.push(`          ${v.variant} would need: ${v.libraries.map((l) => l.soname).join(', ')}${missing.length ? '' : ' (all found)'}`);
      out.push(...libraryLines(v.libraries, '            '));
    }
  }
  if (report.ldLibraryPath.length) out.push(`to use the libraries found outside the loader path: export LD_LIBRARY_PATH=${report.ldLibraryPath.join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`);
  return out.join('\n');
}
