/**
 * `latentwalk gpu install cuda13|cuda12`: puts onnxruntime's CUDA provider libraries next to the installed
 * onnxruntime-node, where its binding loads them from.
 *   cuda13: from the npm registry (`npm pack`, nothing else downloaded), or from a tarball or folder (--from);
 *   cuda12: onnxruntime-node's own install script (it downloads from NuGet), or from a folder (--from).
 * Whatever the source, the library is checked before it is placed: built for the installed onnxruntime version
 * (a provider loads only into the same version) and linked against the variant's CUDA major.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ELF_MACHINE } from '../../engine/onnx/elf.ts';
import {
  CUDA13_ON_NPM,
  CUDA_PROVIDER_FILE,
  GpuSetupError,
  INSTALL_RECORD,
  PROVIDER_FILES,
  VARIANT_FACTS,
  findOnnxruntime,
  inspectCudaProvider,
  versionsThatFit,
  type CudaVariant,
  type OnnxruntimeInstall,
} from './cudaProviders.ts';
import { extractFromTarball } from './tarball.ts';

export interface InstallOptions {
  variant: CudaVariant;
  /** A package tarball (.tgz), an unpacked package, or a folder holding the two libraries. */
  from?: string;
  /** An npm package spec to fetch instead of the table's (cuda13). */
  packageSpec?: string;
  /** The onnxruntime-node package to install into (default: the one this project loads). */
  onnxruntimeDir?: string;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** The npm executable (tests point it at a local registry through the environment instead). */
  npm?: string;
}

export interface InstallRecord {
  variant: CudaVariant;
  cudaMajor: number;
  onnxruntime: string;
  source: string;
  bytes: number;
  installedAt: string;
}

export interface InstallResult {
  onnxruntime: OnnxruntimeInstall;
  record: InstallRecord;
}

export async function installCudaProvider(options: InstallOptions): Promise<InstallResult> {
  const log = options.log ?? (() => undefined);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new GpuSetupError(`the CUDA provider builds are for linux/x64; this is ${process.platform}/${process.arch}`);
  }
  const ort = findOnnxruntime(options.onnxruntimeDir);
  const work = mkdtempSync(join(tmpdir(), 'latentwalk-gpu-install-'));
  try {
    let staged: string;
    let source: string;
    if (options.from) {
      staged = await stageFrom(options.from, work);
      source = options.from;
    } else if (options.variant === 'cuda13') {
      const spec = options.packageSpec ?? registryPackageFor(ort.version).spec;
      const tarball = await npmPack(spec, work, options.npm ?? 'npm', log);
      staged = await stageFrom(tarball, work);
      source = spec;
    } else {
      if (options.packageSpec) throw new GpuSetupError('--package is for cuda13 (the npm registry); cuda12 comes from the official install script or --from');
      await runOfficialScript(ort, log);
      staged = ort.binDir;
      source = `onnxruntime-node ${ort.version} install script (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux ${ort.version})`;
    }
    const record = verify(join(staged, CUDA_PROVIDER_FILE), options.variant, ort, source, staged === ort.binDir);
    if (staged !== ort.binDir) place(staged, ort.binDir);
    writeFileSync(join(ort.binDir, INSTALL_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    return { onnxruntime: ort, record };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The registry package of the CUDA 13 provider for an onnxruntime version, or a refusal naming the ones that fit. */
export function registryPackageFor(onnxruntimeVersion: string): (typeof CUDA13_ON_NPM)[number] {
  const match = CUDA13_ON_NPM.find((p) => p.onnxruntime === onnxruntimeVersion);
  if (!match) {
    throw new GpuSetupError(
      `no CUDA 13 provider for onnxruntime-node ${onnxruntimeVersion} on the npm registry; the ones there fit ${versionsThatFit('cuda13')}: install that onnxruntime-node version (this project pins ${CUDA13_ON_NPM.at(-1)!.onnxruntime}), or pass --package SPEC for a newer build`,
    );
  }
  return match;
}

async function npmPack(spec: string, work: string, npm: string, log: (line: string) => void): Promise<string> {
  const known = CUDA13_ON_NPM.find((p) => p.spec === spec);
  log(`fetching ${spec} from the npm registry${known ? ` (about ${known.packedMB} MB)` : ''} ...`);
  // Run from the scratch folder: the project's .npmrc keys are not npm's, and pack writes into cwd.
  const { code, stdout, stderr } = await run(npm, ['pack', spec, '--json', '--pack-destination', work], { cwd: work });
  if (code !== 0) {
    const reason = stderr.split('\n').find((l) => /npm (error|ERR!) (code|404|\w)/.test(l) && !/A complete log/.test(l)) ?? stderr.trim().split('\n')[0] ?? `exit ${code}`;
    throw new GpuSetupError(`npm pack ${spec} failed: ${reason.replace(/^npm (error|ERR!) /, '').trim()}`);
  }
  let filename: string | undefined;
  try {
    filename = (JSON.parse(stdout) as { filename: string }[])[0]?.filename;
  } catch {
    filename = readdirSync(work).find((f) => f.endsWith('.tgz'));
  }
  if (!filename) throw new GpuSetupError(`npm pack ${spec} wrote no tarball`);
  return join(work, basename(filename));
}

/** Copies or extracts the two libraries from --from (or a fetched tarball) into a staging folder. */
async function stageFrom(from: string, work: string): Promise<string> {
  if (!existsSync(from)) throw new GpuSetupError(`--from ${from}: no such file or folder`);
  const staged = join(work, 'staged');
  mkdirSync(staged, { recursive: true });
  if (statSync(from).isFile()) {
    const wanted = new Map<string, string>();
    // npm tarballs put everything under package/; the library folder is found by name.
    for (const folder of ['package/Plugins/Linux/x64', 'package/runtimes/linux-x64/native', 'package/lib', 'package']) {
      for (const file of PROVIDER_FILES) wanted.set(`${folder}/${file}`, join(staged, `${folder.replaceAll('/', '_')}__${file}`));
    }
    let found: Set<string>;
    try {
      found = await extractFromTarball(from, wanted);
    } catch (error) {
      throw new GpuSetupError(`${from} is not a readable package tarball: ${(error as Error).message.split('\n')[0]}`);
    }
    const folder = [...new Set([...found].map((p) => p.slice(0, p.lastIndexOf('/'))))].find((f) => PROVIDER_FILES.every((file) => found.has(`${f}/${file}`)));
    if (!folder) throw new GpuSetupError(`${from} holds no ${PROVIDER_FILES.join(' + ')} (looked in package/Plugins/Linux/x64)`);
    for (const file of PROVIDER_FILES) renameSync(join(staged, `${folder.replaceAll('/', '_')}__${file}`), join(staged, file));
    return staged;
  }
  const folder = ['Plugins/Linux/x64', 'package/Plugins/Linux/x64', 'runtimes/linux-x64/native', '.'].map((f) => join(from, f)).find((f) => PROVIDER_FILES.every((file) => existsSync(join(f, file))));
  if (!folder) throw new GpuSetupError(`${from} holds no ${PROVIDER_FILES.join(' + ')} (looked in it and in Plugins/Linux/x64)`);
  for (const file of PROVIDER_FILES) copyFileSync(join(folder, file), join(staged, file));
  return staged;
}

/** Checks the library is this variant's build for the installed onnxruntime. `placed`: already in binDir (the official script). */
function verify(providerPath: string, variant: CudaVariant, ort: OnnxruntimeInstall, source: string, placed: boolean): InstallRecord {
  if (!existsSync(providerPath)) throw new GpuSetupError(`${source} left no ${CUDA_PROVIDER_FILE} in ${ort.binDir}`);
  let build: ReturnType<typeof inspectCudaProvider>;
  try {
    build = inspectCudaProvider(providerPath);
  } catch (error) {
    throw new GpuSetupError(`${CUDA_PROVIDER_FILE} from ${source} is not a Linux shared library: ${(error as Error).message}`);
  }
  if (build.machine !== ELF_MACHINE.x64) throw new GpuSetupError(`${CUDA_PROVIDER_FILE} from ${source} is not built for x86-64`);
  // The version string in the library decides, not a package's version. The official script fetches the installed
  // version itself, so a build without a readable version string is accepted from it, and from nothing else.
  const built = build.onnxruntime.length === 1 ? build.onnxruntime[0]! : undefined;
  if (build.onnxruntime.length > 0 && !build.onnxruntime.includes(ort.version)) {
    const fits = built ?? build.onnxruntime.join(' or ');
    const other = variant === 'cuda13' ? `; CUDA 13 providers on the npm registry fit ${versionsThatFit('cuda13')}` : '';
    throw new GpuSetupError(
      `version mismatch: ${source} is onnxruntime ${fits}'s CUDA provider but onnxruntime-node ${ort.version} is installed; a provider loads only into the same version: it fits onnxruntime-node ${fits}${other}`,
    );
  }
  if (build.onnxruntime.length !== 1 && !placed) {
    throw new GpuSetupError(`cannot tell which onnxruntime version ${CUDA_PROVIDER_FILE} from ${source} was built for (found ${build.onnxruntime.length ? build.onnxruntime.join(', ') : 'no version string'}); refusing to install it`);
  }
  const wanted = VARIANT_FACTS[variant].cudaMajor;
  if (build.cudaMajor !== wanted && build.cudaMajor !== undefined && placed) {
    // the official script decides what it downloads; say what it placed rather than pretend it was refused
    throw new GpuSetupError(
      `${source} placed a CUDA ${build.cudaMajor} build, not CUDA ${wanted}: this onnxruntime-node's NuGet package links libcudart.so.${build.cudaMajor}; latentwalk gpu check says what this host has for it`,
    );
  }
  if (build.cudaMajor !== wanted && !placed) {
    throw new GpuSetupError(
      `${source} is not a ${variant} provider: it links ${build.cudaMajor ? `CUDA ${build.cudaMajor} (libcudart.so.${build.cudaMajor})` : 'no CUDA runtime'}, not CUDA ${wanted}${build.cudaMajor === 12 ? '; install it as cuda12' : build.cudaMajor === 13 ? '; install it as cuda13' : ''}`,
    );
  }
  return { variant, cudaMajor: wanted, onnxruntime: ort.version, source, bytes: statSync(providerPath).size, installedAt: new Date().toISOString() };
}

/** Copies the staged libraries in, each through a temporary name and a rename, so a reader never sees half a file. */
function place(staged: string, binDir: string): void {
  mkdirSync(binDir, { recursive: true });
  for (const file of PROVIDER_FILES) {
    const partial = join(binDir, `.${file}.partial`);
    copyFileSync(join(staged, file), partial);
    renameSync(partial, join(binDir, file));
  }
}

async function runOfficialScript(ort: OnnxruntimeInstall, log: (line: string) => void): Promise<void> {
  const script = join(ort.dir, 'script', 'install.js');
  if (!existsSync(script)) throw new GpuSetupError(`onnxruntime-node ${ort.version} has no script/install.js at ${script}`);
  log(`running onnxruntime-node's install script (ONNXRUNTIME_NODE_INSTALL=cuda12): it downloads Microsoft.ML.OnnxRuntime.Gpu.Linux ${ort.version} from NuGet ...`);
  const { code, stderr } = await run(process.execPath, [script], { cwd: ort.dir, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' }, echo: log });
  if (code !== 0) {
    const reason = stderr.split('\n').find((l) => /^\w*Error:/.test(l.trim()))?.trim() ?? stderr.trim().split('\n').at(-1) ?? `exit ${code}`;
    throw new GpuSetupError(
      `onnxruntime-node's install script could not fetch the CUDA 12 provider (${reason}); it needs NuGet (api.nuget.org); without it, copy the two libraries from Microsoft.ML.OnnxRuntime.Gpu.Linux ${ort.version} (runtimes/linux-x64/native) and use --from DIR`,
    );
  }
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; echo?: (line: string) => void }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (options.echo) for (const line of d.split('\n').filter((l) => l.trim())) options.echo(line);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (error: NodeJS.ErrnoException) => reject(new GpuSetupError(error.code === 'ENOENT' ? `${command} not found on PATH` : `${command}: ${error.message}`)));
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
