/**
 * `latentwalk gpu install cuda13|cuda12` and `latentwalk gpu check`: onnxruntime's CUDA provider, installed
 * next to onnxruntime-node, and what this host can load. Never loads the engine except to start a provider.
 */
import { parseArgs } from 'node:util';
import { CliUsageError } from './CliError.ts';
import { checkProviders, formatReport } from './gpu/check.ts';
import { CUDA_VARIANTS, GpuSetupError, type CudaVariant } from './gpu/cudaProviders.ts';
import { installCudaProvider } from './gpu/install.ts';

export const GPU_USAGE = `usage: latentwalk gpu <command>
  install cuda13 [--from PATH] [--package SPEC]   the CUDA 13 provider, from the npm registry (npm pack)
  install cuda12 [--from DIR]                     the CUDA 12 provider, with onnxruntime-node's own install script (NuGet)
  check [--require cuda|webgpu] [--static] [--json] [--ld-library-path] [--search DIR]...
        which providers can load here; for each that cannot, the missing libraries and where they come from
options:
  --from PATH           install from a package tarball (npm pack), an unpacked package or a folder with the libraries
  --package SPEC        npm package to fetch instead of the one known to fit the installed onnxruntime-node
  --onnxruntime-dir DIR the onnxruntime-node package to install into or check (default: the one this project loads)
  --require P           exit 1 unless provider P loads (or, with --static, unless nothing it needs is missing)
  --static              resolve files and libraries only: start nothing, and do not require the driver (image builds)
  --ld-library-path     print only the folders to add to LD_LIBRARY_PATH for libraries found off the loader path`;

export async function runGpuCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(GPU_USAGE);
    return name ? 0 : 2;
  }
  try {
    if (name === 'install') return await installCommand(rest);
    if (name === 'check') return await checkCommand(rest);
  } catch (error) {
    if (error instanceof GpuSetupError) {
      console.error(`latentwalk: ${error.message}`);
      return 1;
    }
    throw error;
  }
  throw new CliUsageError(`unknown gpu command '${name}'; use install or check`);
}

function parse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

async function installCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(() =>
    parseArgs({ args: argv, allowPositionals: true, options: { from: { type: 'string' }, package: { type: 'string' }, 'onnxruntime-dir': { type: 'string' } } }),
  );
  const [variant, ...extra] = positionals;
  if (!variant || !(CUDA_VARIANTS as readonly string[]).includes(variant) || extra.length) {
    throw new CliUsageError(`gpu install takes one of ${CUDA_VARIANTS.join(', ')}${variant ? `, got '${[variant, ...extra].join(' ')}'` : ''}`);
  }
  const { record, onnxruntime } = await installCudaProvider({
    variant: variant as CudaVariant,
    ...(values.from ? { from: values.from } : {}),
    ...(values.package ? { packageSpec: values.package } : {}),
    ...(values['onnxruntime-dir'] ? { onnxruntimeDir: values['onnxruntime-dir'] } : {}),
    log: (line) => console.error(line),
  });
  console.log(`installed the CUDA ${record.cudaMajor} provider of onnxruntime ${record.onnxruntime} (${(record.bytes / 1e6).toFixed(0)} MB, from ${record.source}) into ${onnxruntime.binDir}`);
  // What it needs on this host, without starting it (the driver may be absent where images are built).
  const report = await checkProviders({ static: true, ...(values['onnxruntime-dir'] ? { onnxruntimeDir: values['onnxruntime-dir'] } : {}) });
  const cuda = report.providers.find((p) => p.provider === 'cuda')!;
  console.log(cuda.loads === false ? `this host: ${cuda.summary} (latentwalk gpu check says where each comes from)` : 'this host: every library it needs is found (latentwalk gpu check starts it)');
  return 0;
}

async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parse(() =>
    parseArgs({
      args: argv,
      options: {
        require: { type: 'string' },
        static: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'ld-library-path': { type: 'boolean', default: false },
        search: { type: 'string', multiple: true },
        'onnxruntime-dir': { type: 'string' },
      },
    }),
  );
  const required = values.require;
  if (required !== undefined && !['cpu', 'webgpu', 'cuda'].includes(required)) throw new CliUsageError(`--require takes cpu, webgpu or cuda, got '${required}'`);
  const report = await checkProviders({
    static: values.static,
    ...(values.search ? { searchDirs: values.search } : {}),
    ...(values['onnxruntime-dir'] ? { onnxruntimeDir: values['onnxruntime-dir'] } : {}),
  });
  if (values['ld-library-path']) console.log(report.ldLibraryPath.join(':'));
  else if (values.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatReport(report));
  if (required) {
    const p = report.providers.find((x) => x.provider === required)!;
    const ok = values.static ? p.loads !== false : p.loads === true;
    if (!ok) {
      console.error(`latentwalk: ${required} cannot load here: ${p.summary}`);
      return 1;
    }
  }
  return 0;
}
