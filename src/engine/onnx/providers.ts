/**
 * Execution-provider selection: try an ordered list (e.g. cuda, webgpu, cpu) and take the first that starts,
 * with one line saying which one and why each earlier one did not. Each candidate is probed on a one-node
 * graph rather than on the pack, so a provider that cannot start costs milliseconds, not a model load.
 *
 * What happens on a machine without a GPU (seen with onnxruntime-node 1.29 and 1.30 on Linux x64):
 *   cuda   - the CUDA provider libraries are not in the npm package (`latentwalk gpu install` adds them), and
 *            they need CUDA libraries the host may lack: both reported without touching onnxruntime, which
 *            would otherwise print its own error to stderr and name only the first missing library.
 *   webgpu - bundled, but Dawn finds no adapter ("No supported adapters"); with a software Vulkan driver that
 *            Dawn accepts (Mesa >= 24 lavapipe) it starts and runs on the CPU.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.ts';
import { probeGraph } from '../gpu/graphs.ts';
import type { ProviderName } from '../types.ts';
import { OnnxSession } from './OnnxSession.ts';
import { resolveDependencies } from './sharedLibraries.ts';

export const PROVIDER_NAMES: readonly ProviderName[] = ['cpu', 'webgpu', 'cuda'];

/**
 * How a host gets the CUDA provider: `latentwalk gpu install` puts the build that fits next to onnxruntime-node
 * (cuda13 from the npm registry, cuda12 through onnxruntime-node's own install script), and `latentwalk gpu
 * check` says which libraries a host lacks. README, "GPU hosts: the CUDA provider".
 */
export const CUDA_INSTALL_HINT = 'install it with: latentwalk gpu install cuda13 (CUDA 13 hosts) or cuda12 (CUDA 12 + cuDNN 9 hosts); latentwalk gpu check says what this host has';

/** Loaded by the CUDA provider after it starts (not DT_NEEDED), but needed by every SD3 pack (the VAE's convolutions). */
const CUDA_LOADS_LATER = ['libcudnn.so.9'];

export interface ProviderChoice {
  provider: ProviderName;
  /** Candidates tried before it, with the reason each did not start. */
  skipped: { provider: ProviderName; reason: string }[];
  /** The one log line: "execution provider: webgpu (cuda: ...)". */
  line: string;
}

/** "cuda,webgpu,cpu" -> ['cuda', 'webgpu', 'cpu'], for a CLI flag or an environment variable. */
export function parseProviderList(text: string): ProviderName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new EngineError('BAD_OPTION', 'providers must name at least one of cpu, webgpu, cuda');
  for (const n of names) {
    if (!(PROVIDER_NAMES as readonly string[]).includes(n)) throw new EngineError('BAD_OPTION', `providers must be among cpu, webgpu, cuda, got '${n}'`);
  }
  return names as ProviderName[];
}

/** The folder onnxruntime-node loads its native libraries from on this platform. */
export function ortBinaryDir(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

/** Why a provider cannot start here without asking onnxruntime, or undefined when only a probe can tell. */
export function staticUnavailability(provider: ProviderName): string | undefined {
  if (provider === 'cpu') return undefined;
  const listed = ort.listSupportedBackends().some((b) => b.name === provider);
  if (!listed) return `not built into onnxruntime-node for ${process.platform}/${process.arch}`;
  if (provider === 'cuda') return cudaProviderUnavailability(ortBinaryDir());
  return undefined;
}

/** Why the CUDA provider in `dir` cannot start here, judged from files alone; undefined when only a probe can tell. */
export function cudaProviderUnavailability(dir: string): string | undefined {
  for (const lib of ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']) {
    if (!existsSync(join(dir, lib))) return `${lib} not found (${CUDA_INSTALL_HINT})`;
  }
  // Named all at once here, rather than onnxruntime's first failed dlopen (which it also prints to stderr).
  let missing: { soname: string }[];
  try {
    missing = resolveDependencies(join(dir, 'libonnxruntime_providers_cuda.so'), CUDA_LOADS_LATER).filter((d) => !d.path);
  } catch (error) {
    return `libonnxruntime_providers_cuda.so is not a loadable library (${(error as Error).message}; ${CUDA_INSTALL_HINT})`;
  }
  if (missing.length > 0) return `${missing.map((d) => d.soname).join(', ')} not found (latentwalk gpu check says where each comes from)`;
  return undefined;
}

/** Starts the provider on a one-node graph; returns the failure reason, or undefined when it runs. */
export async function probeProvider(provider: ProviderName): Promise<string | undefined> {
  const pre = staticUnavailability(provider);
  if (pre) return pre;
  if (provider === 'cpu') return undefined;
  let session: OnnxSession | undefined;
  try {
    session = await OnnxSession.open(probeGraph(), { provider, label: 'provider probe', logSeverityLevel: 3 });
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return message.replace(/^execution provider '\w+' could not load the engine's provider probe graph: /, '');
  } finally {
    await session?.dispose();
  }
}

/**
 * Takes the first candidate that starts. Throws PROVIDER_UNAVAILABLE (one line, every reason) when none does.
 * A list of one skips nothing: `cpu` alone is not probed at all.
 */
export async function chooseProvider(candidates: readonly ProviderName[]): Promise<ProviderChoice> {
  if (candidates.length === 0) throw new EngineError('BAD_OPTION', 'providers must name at least one of cpu, webgpu, cuda');
  const skipped: ProviderChoice['skipped'] = [];
  for (const provider of candidates) {
    const reason = await probeProvider(provider);
    if (reason === undefined) {
      const why = skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
      return { provider, skipped, line: `execution provider: ${provider}${why ? ` (${why})` : ''}` };
    }
    skipped.push({ provider, reason });
  }
  const all = candidates.length === 1 ? skipped[0]!.reason : skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
  const head = candidates.length === 1 ? `execution provider '${candidates[0]}' is not available` : `none of the execution providers ${candidates.join(', ')} is available`;
  throw new EngineError('PROVIDER_UNAVAILABLE', `${head}: ${all}`);
}
