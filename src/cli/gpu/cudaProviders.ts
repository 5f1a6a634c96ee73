/**
 * What this project knows about onnxruntime's CUDA provider libraries: the two builds (CUDA 12 from the
 * official install script, CUDA 13 from the npm registry), which onnxruntime-node versions each exists for,
 * what each needs at run time, and where those libraries usually come from. Facts, not code, live here; the
 * install and check commands use them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { onnxruntimeVersionsIn, readElfLibraryInfo } from '../../engine/onnx/elf.ts';

export type CudaVariant = 'cuda12' | 'cuda13';
export const CUDA_VARIANTS: readonly CudaVariant[] = ['cuda12', 'cuda13'];

/** The files onnxruntime loads from its own folder when a session asks for the cuda provider. */
export const CUDA_PROVIDER_FILE = 'libonnxruntime_providers_cuda.so';
export const SHARED_PROVIDER_FILE = 'libonnxruntime_providers_shared.so';
export const PROVIDER_FILES = [CUDA_PROVIDER_FILE, SHARED_PROVIDER_FILE] as const;
/** Written next to the files by `latentwalk gpu install`: which build is there and where it came from. */
export const INSTALL_RECORD = 'latentwalk-cuda-provider.json';

/** The onnxruntime-node version this project pins: both CUDA builds exist for it. */
export const PINNED_ONNXRUNTIME = '1.29.0';

export interface RegistryProvider {
  /** onnxruntime version the library is built from (and only loads into). */
  readonly onnxruntime: string;
  /** npm package spec. */
  readonly spec: string;
  /** Folder of the two libraries inside the package tarball. */
  readonly folder: string;
  readonly packedMB: number;
}

/**
 * CUDA 13 builds of the provider on the npm registry: Unity repackagings (MIT) of onnxruntime's official Linux
 * GPU release. Checked 2026-12: 0.4.9 holds onnxruntime 1.29.0's libraries (version string 1.29.0, NEEDED
 * libcudart.so.13); the package's own version is not onnxruntime's, so the table maps them.
 */
export const CUDA13_ON_NPM: readonly RegistryProvider[] = [
  { onnxruntime: '1.29.0', spec: 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9', folder: 'package/Plugins/Linux/x64', packedMB: 179 },
];

export interface VariantFacts {
  readonly cudaMajor: number;
  /** Loaded with the provider (DT_NEEDED of the official builds), in the order the loader tries them. */
  readonly needs: readonly string[];
  /** dlopened by the provider later: cuDNN when a model has convolutions or attention kernels that use it. */
  readonly loadsLater: readonly string[];
  readonly install: string;
}

export const VARIANT_FACTS: Record<CudaVariant, VariantFacts> = {
  cuda13: {
    cudaMajor: 13,
    // read from com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9's libonnxruntime_providers_cuda.so
    needs: ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcuda.so.1'],
    loadsLater: ['libcudnn.so.9'],
    install: 'latentwalk gpu install cuda13',
  },
  cuda12: {
    cudaMajor: 12,
    // onnxruntime's CUDA 12 requirements (its CUDA execution provider documentation)
    needs: ['libcublasLt.so.12', 'libcublas.so.12', 'libcurand.so.10', 'libcufft.so.11', 'libcudart.so.12', 'libcuda.so.1'],
    loadsLater: ['libcudnn.so.9'],
    install: 'latentwalk gpu install cuda12',
  },
};

/** Where a library the provider needs usually comes from, in one short phrase. */
export function librarySource(soname: string, cudaMajor: number): string {
  const wheel = (name: string) => (cudaMajor >= 13 ? name : `${name}-cu${cudaMajor}`);
  const cuda = `the CUDA ${cudaMajor} toolkit`;
  const lib = /^lib(\w+?)(?:Lt)?\.so/.exec(soname)?.[1] ?? soname;
  switch (lib) {
    case 'cuda':
      return 'the NVIDIA driver (in a container: the NVIDIA Container Toolkit mounts it)';
    case 'cudart':
      return `${cuda} (cuda-cudart), or PyTorch's CUDA wheels (pip ${wheel('nvidia-cuda-runtime')})`;
    case 'cublas':
      return `${cuda} (libcublas), or PyTorch's CUDA wheels (pip ${wheel('nvidia-cublas')})`;
    case 'curand':
      return `${cuda} (libcurand), or PyTorch's CUDA wheels (pip ${wheel('nvidia-curand')})`;
    case 'cufft':
      return `${cuda} (libcufft), or PyTorch's CUDA wheels (pip ${wheel('nvidia-cufft')})`;
    case 'cudnn':
      return `cuDNN 9 for CUDA ${cudaMajor} (NVIDIA's cudnn9-cuda-${cudaMajor} package, the nvidia/cuda *-cudnn-runtime images, or PyTorch's pip nvidia-cudnn-cu${cudaMajor})`;
    case 'vulkan':
      return "the Vulkan loader (Debian/Ubuntu: apt-get install libvulkan1) and a Vulkan driver (NVIDIA's, or Mesa)";
    default:
      return 'the system (glibc, libstdc++)';
  }
}

export interface OnnxruntimeInstall {
  /** The onnxruntime-node package folder. */
  readonly dir: string;
  readonly version: string;
  /** Where its native libraries are, and where the provider libraries go. */
  readonly binDir: string;
}

/** The onnxruntime-node package this project loads, or the one in `dir`. */
export function findOnnxruntime(dir?: string): OnnxruntimeInstall {
  const packageDir = dir ?? dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const manifest = join(packageDir, 'package.json');
  if (!existsSync(manifest)) throw new GpuSetupError(`no onnxruntime-node package at ${packageDir} (run npm ci first)`);
  const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
  if (name !== 'onnxruntime-node' || !version) throw new GpuSetupError(`${packageDir} is not an onnxruntime-node package`);
  return { dir: packageDir, version, binDir: join(packageDir, 'bin', 'napi-v6', process.platform, process.arch) };
}

export interface ProviderBuild {
  /** onnxruntime versions written in the library (one, for a real build). */
  readonly onnxruntime: readonly string[];
  /** From its DT_NEEDED libcudart.so.N; undefined when it names none. */
  readonly cudaMajor?: number;
  readonly needed: readonly string[];
  readonly machine: number;
}

/** Reads what a CUDA provider library is: its onnxruntime version and the CUDA major it links. */
export function inspectCudaProvider(path: string): ProviderBuild {
  const info = readElfLibraryInfo(path);
  const cudart = info.needed.map((n) => /^libcudart\.so\.(\d+)$/.exec(n)).find(Boolean);
  return {
    onnxruntime: onnxruntimeVersionsIn(path),
    needed: info.needed,
    machine: info.machine,
    ...(cudart ? { cudaMajor: Number(cudart[1]) } : {}),
  };
}

/** The variant a CUDA major belongs to, if this project knows it. */
export function variantOf(cudaMajor: number | undefined): CudaVariant | undefined {
  return CUDA_VARIANTS.find((v) => VARIANT_FACTS[v].cudaMajor === cudaMajor);
}

/** Which onnxruntime-node versions a variant can be installed for, as a phrase for refusals. */
export function versionsThatFit(variant: CudaVariant): string {
  if (variant === 'cuda13') return CUDA13_ON_NPM.map((p) => `onnxruntime-node ${p.onnxruntime} (${p.spec})`).join(', ');
  return 'any onnxruntime-node release (the official script downloads the matching Microsoft.ML.OnnxRuntime.Gpu.Linux from NuGet)';
}

/** A refusal or failure of `latentwalk gpu`: one line saying what to do. */
export class GpuSetupError extends Error {
  override readonly name = 'GpuSetupError';
}
