/**
 * `latentwalk gpu install` and `latentwalk gpu check`, against small fake provider packages laid out like the
 * real ones (a local npm registry serves them to `npm pack`; a stand-in plays onnxruntime-node's NuGet script):
 * the files land next to onnxruntime-node, a provider for another onnxruntime version or CUDA major is refused
 * with one line that says what fits, and the check names every missing library and where it comes from, here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkProviders, formatReport } from '../src/cli/gpu/check.ts';
import { CUDA13_ON_NPM, GpuSetupError, PINNED_ONNXRUNTIME, librarySource } from '../src/cli/gpu/cudaProviders.ts';
import { installCudaProvider } from '../src/cli/gpu/install.ts';
import { main } from '../src/cli/main.ts';
import { extractFromTarball } from '../src/cli/gpu/tarball.ts';
import { onnxruntimeVersionsIn, readElfLibraryInfo } from '../src/engine/onnx/elf.ts';
import { cudaProviderUnavailability } from '../src/engine/onnx/providers.ts';
import { readLdCache, resolveDependencies } from '../src/engine/onnx/sharedLibraries.ts';
import {
  CUDA13_NEEDED,
  fakeElf,
  fakeLibraryDir,
  fakeOnnxruntimeNode,
  fakeProviderPackage,
  startFakeRegistry,
  tarGz,
  writeProviderLibraries,
} from './harness/fakeProvider.ts';

const BIN = fileURLToPath(new URL('../bin/latentwalk.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-gpu-'));
const REAL = CUDA13_ON_NPM.find((p) => p.onnxruntime === PINNED_ONNXRUNTIME)!;
const [REAL_NAME, REAL_VERSION] = [REAL.spec.slice(0, REAL.spec.lastIndexOf('@')), REAL.spec.slice(REAL.spec.lastIndexOf('@') + 1)];
const FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

let registry: Awaited<ReturnType<typeof startFakeRegistry>>;
let scratch = 0;
const fresh = (name: string) => {
  const dir = join(work, `${name}-${scratch++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** Runs the CLI with npm pointed at the fake registry (own cache, no network). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, ...npmEnv(), ...env },
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function npmEnv(): NodeJS.ProcessEnv {
  return { npm_config_registry: registry.url, npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' };
}

/** Runs `fn` with extra environment variables (tests run one at a time). */
async function withEnv<T>(env: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const refusal = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof GpuSetupError, String(e));
  assert.ok(!e.message.includes('\n'), 'one line');
  assert.match(e.message, pattern);
  return true;
};

/** A refusal: exit 1, one line on stderr (progress lines aside), no stack trace. */
function assertRefused(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('latentwalk:'));
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const placed = (binDir: string) => FILES.filter((f) => existsSync(join(binDir, f)));

after(() => rmSync(work, { recursive: true, force: true }));

describe('latentwalk gpu install', () => {
  before(async () => {
    registry = await startFakeRegistry([
      fakeProviderPackage({ name: REAL_NAME, version: REAL_VERSION, onnxruntime: PINNED_ONNXRUNTIME, cudaMajor: 13 }),
      fakeProviderPackage({ name: 'fake-provider-for-1.28', version: '1.0.0', onnxruntime: '1.28.0', cudaMajor: 13 }),
    ]);
  });
  after(() => registry.close());

  it('cuda13: fetches the package that fits the installed onnxruntime-node from the npm registry and places both libraries', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const r = await cli(['gpu', 'install', 'cuda13', '--onnxruntime-dir', ort.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(registry.requests.includes(`/${REAL_NAME}`), `npm asked the registry for ${REAL_NAME}: ${registry.requests.join(', ')}`);
    assert.match(r.stderr, new RegExp(`fetching ${REAL.spec.replace(/[.]/g, '\\.')} from the npm registry`));
    assert.deepEqual(placed(ort.binDir), FILES);
    // byte for byte what the package carries, and nothing else from it (no tensorrt, no .meta)
    const expected = join(fresh('expected'), 'x');
    mkdirSync(expected);
    const pkg = fakeProviderPackage({ name: REAL_NAME, version: REAL_VERSION, onnxruntime: PINNED_ONNXRUNTIME, cudaMajor: 13 });
    writeFileSync(join(expected, 'p.tgz'), pkg.tarball);
    await extractFromTarball(join(expected, 'p.tgz'), new Map(FILES.map((f) => [`package/Plugins/Linux/x64/${f}`, join(expected, f)])));
    for (const f of FILES) assert.deepEqual(readFileSync(join(ort.binDir, f)), readFileSync(join(expected, f)), f);
    assert.deepEqual(readdirSync(ort.binDir).sort(), ['latentwalk-cuda-provider.json', 'libonnxruntime.so.1', ...FILES].sort());
    const record = JSON.parse(readFileSync(join(ort.binDir, 'latentwalk-cuda-provider.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual({ variant: record['variant'], cudaMajor: record['cudaMajor'], onnxruntime: record['onnxruntime'], source: record['source'] }, { variant: 'cuda13', cudaMajor: 13, onnxruntime: PINNED_ONNXRUNTIME, source: REAL.spec });
    assert.match(r.stdout, new RegExp(`installed the CUDA 13 provider of onnxruntime ${PINNED_ONNXRUNTIME.replace(/\./g, '\\.')}`));
    // and says what this host still lacks for it (no CUDA 13 libraries here)
    assert.match(r.stdout, /this host: .*libcublasLt\.so\.13.* not found/);
  });

  it('cuda13 for an onnxruntime-node with no CUDA 13 build on the registry: refused, naming the version that fits, nothing fetched', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), '1.30.0');
    const before = registry.requests.length;
    const r = await cli(['gpu', 'install', 'cuda13', '--onnxruntime-dir', ort.dir]);
    assertRefused(r, new RegExp(`no CUDA 13 provider for onnxruntime-node 1\\.30\\.0 on the npm registry; the ones there fit onnxruntime-node ${PINNED_ONNXRUNTIME.replace(/\./g, '\\.')} \\(${REAL.spec.replace(/\./g, '\\.')}\\)`));
    assert.equal(registry.requests.length, before, 'the registry was not asked');
    assert.deepEqual(placed(ort.binDir), []);
  });

  it('a provider built for another onnxruntime version: refused with the versions that fit, whether fetched or given', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    await withEnv(npmEnv(), () =>
      assert.rejects(
        installCudaProvider({ variant: 'cuda13', packageSpec: 'fake-provider-for-1.28@1.0.0', onnxruntimeDir: ort.dir }),
        refusal(new RegExp(`^version mismatch: fake-provider-for-1\\.28@1\\.0\\.0 is onnxruntime 1\\.28\\.0's CUDA provider but onnxruntime-node ${PINNED_ONNXRUNTIME.replace(/\./g, '\\.')} is installed; .*it fits onnxruntime-node 1\\.28\\.0`)),
      ),
    );
    const tgz = join(fresh('pkg'), 'old.tgz');
    writeFileSync(tgz, fakeProviderPackage({ onnxruntime: '1.27.1', cudaMajor: 13 }).tarball);
    await assert.rejects(installCudaProvider({ variant: 'cuda13', from: tgz, onnxruntimeDir: ort.dir }), refusal(/version mismatch: .*old\.tgz is onnxruntime 1\.27\.1's CUDA provider .* it fits onnxruntime-node 1\.27\.1/));
    assert.deepEqual(placed(ort.binDir), [], 'nothing placed');
  });

  it('a CUDA 12 build offered as cuda13 (or the reverse) is refused; an unpacked folder works as --from', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const cuda12 = fresh('libs12');
    writeProviderLibraries(cuda12, PINNED_ONNXRUNTIME, 12);
    await assert.rejects(installCudaProvider({ variant: 'cuda13', from: cuda12, onnxruntimeDir: ort.dir }), refusal(/is not a cuda13 provider: it links CUDA 12 \(libcudart\.so\.12\), not CUDA 13; install it as cuda12/));
    assert.deepEqual(placed(ort.binDir), []);
    const { record } = await installCudaProvider({ variant: 'cuda12', from: cuda12, onnxruntimeDir: ort.dir });
    assert.equal(record.cudaMajor, 12);
    assert.deepEqual(placed(ort.binDir), FILES);
  });

  it('cuda12 wraps onnxruntime-node’s own install script: the files it fetches are checked and recorded; a NuGet failure is one line', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const nuget = fresh('nuget');
    writeProviderLibraries(nuget, PINNED_ONNXRUNTIME, 12);
    const progress: string[] = [];
    const { record } = await withEnv({ FAKE_NUGET_DIR: nuget }, () => installCudaProvider({ variant: 'cuda12', onnxruntimeDir: ort.dir, log: (l) => progress.push(l) }));
    assert.match(progress.join('\n'), /ONNXRUNTIME_NODE_INSTALL=cuda12.*NuGet/);
    assert.match(progress.join('\n'), /Downloading https:\/\/api\.nuget\.org/, 'the script’s own progress is passed on');
    assert.deepEqual(placed(ort.binDir), FILES);
    assert.equal(record.variant, 'cuda12');
    assert.match(record.source, /install script/);
    assert.equal(JSON.parse(readFileSync(join(ort.binDir, 'latentwalk-cuda-provider.json'), 'utf8')).variant, 'cuda12');

    // should the script's NuGet package ever be another CUDA major, the command says what it placed
    const other = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const nuget13 = fresh('nuget13');
    writeProviderLibraries(nuget13, PINNED_ONNXRUNTIME, 13);
    await withEnv({ FAKE_NUGET_DIR: nuget13 }, () =>
      assert.rejects(installCudaProvider({ variant: 'cuda12', onnxruntimeDir: other.dir }), refusal(/install script .* placed a CUDA 13 build, not CUDA 12: .*libcudart\.so\.13/)),
    );

    // a build with no readable version string: taken from the official script (it fetched the installed version
    // itself), refused from anywhere else
    const unversioned = fresh('nuget-unversioned');
    writeFileSync(join(unversioned, 'libonnxruntime_providers_cuda.so'), fakeElf({ needed: ['libcublas.so.12', 'libcudart.so.12', 'libc.so.6'] }));
    writeFileSync(join(unversioned, 'libonnxruntime_providers_shared.so'), fakeElf({ soname: 'libonnxruntime_providers_shared.so' }));
    const plain = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const taken = await withEnv({ FAKE_NUGET_DIR: unversioned }, () => installCudaProvider({ variant: 'cuda12', onnxruntimeDir: plain.dir }));
    assert.equal(taken.record.onnxruntime, PINNED_ONNXRUNTIME);
    await assert.rejects(installCudaProvider({ variant: 'cuda12', from: unversioned, onnxruntimeDir: fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME).dir }), refusal(/cannot tell which onnxruntime version .* no version string\); refusing to install it/));

    const offline = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    const failed = await cli(['gpu', 'install', 'cuda12', '--onnxruntime-dir', offline.dir]);
    assertRefused(failed, /could not fetch the CUDA 12 provider \(Error: getaddrinfo ENOTFOUND api\.nuget\.org\); it needs NuGet .* --from DIR/);
    assert.deepEqual(placed(offline.binDir), []);
  });

  it('usage errors exit 2', async () => {
    const r = await cli(['gpu', 'install', 'cuda11']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gpu install takes one of cuda12, cuda13, got 'cuda11'/);
    assert.equal(await main(['gpu', 'frobnicate']), 2);
  });
});

describe('latentwalk gpu check', () => {
  it('here: cpu loads; cuda names every library each build would need that this host lacks, and where it comes from', async () => {
    const r = await cli(['gpu', 'check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^cpu +loads/m);
    assert.match(r.stdout, /^webgpu +(loads|cannot load|not started)/m);
    assert.match(r.stdout, /^cuda +cannot load: no CUDA provider installed next to onnxruntime-node/m);
    assert.match(r.stdout, /cuda13 would need: libcublasLt\.so\.13, libcublas\.so\.13, libcurand\.so\.10, libcudart\.so\.13, libcuda\.so\.1, libcudnn\.so\.9/);
    // this machine has no cuBLAS 13 (it may have parts of a CUDA toolkit, e.g. libcudart)
    assert.match(r.stdout, /libcublasLt\.so\.13 +missing: the CUDA 13 toolkit \(libcublas\), or PyTorch's CUDA wheels \(pip nvidia-cublas\)/);
    assert.match(r.stdout, /libcudnn\.so\.9 +missing \(loaded when a model needs it\): cuDNN 9 for CUDA 13/);
    const report = await checkProviders({ static: true, askPython: false });
    assert.deepEqual(report.providers.map((p) => p.provider), ['cpu', 'webgpu', 'cuda']);
    assert.equal(report.providers.find((p) => p.provider === 'cuda')!.loads, false);
    const required = await cli(['gpu', 'check', '--require', 'cuda', '--static']);
    assert.equal(required.code, 1);
    assert.match(required.stderr.trim(), /^latentwalk: cuda cannot load here: no CUDA provider installed/);
  });

  it('an installed provider: its missing libraries by name; copies off the loader path are found and turned into LD_LIBRARY_PATH', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    writeProviderLibraries(ort.binDir, PINNED_ONNXRUNTIME, 13);
    const text = formatReport(await checkProviders({ onnxruntimeDir: ort.dir, askPython: false, loader: { ldLibraryPath: '' } }));
    assert.match(text, new RegExp(`^cuda +cannot load: the CUDA 13 provider of onnxruntime ${PINNED_ONNXRUNTIME.replace(/\./g, '\\.')} is installed; .*libcublasLt\\.so\\.13`, 'm'));
    assert.match(text, /libcuda\.so\.1 +missing: the NVIDIA driver/);
    // a folder like PyTorch's CUDA wheels (site-packages/nvidia/cu13/lib)
    const wheels = fakeLibraryDir(join(fresh('site'), 'nvidia', 'cu13', 'lib'), ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10']);
    const found = await checkProviders({ onnxruntimeDir: ort.dir, askPython: false, searchDirs: [wheels], loader: { ldLibraryPath: '' } });
    const foundText = formatReport(found);
    assert.match(foundText, new RegExp(`libcublasLt\\.so\\.13 +missing: .*; found at ${wheels.replace(/[.]/g, '\\.')}/libcublasLt\\.so\\.13, not on the loader path`));
    assert.match(foundText, new RegExp(`export LD_LIBRARY_PATH=${wheels.replace(/[.]/g, '\\.')}`));
    assert.equal(found.ldLibraryPath[0], wheels);
    const path = await cli(['gpu', 'check', '--onnxruntime-dir', ort.dir, '--search', wheels, '--ld-library-path']);
    assert.equal(path.stdout.trim().split(':')[0], wheels);
    // and with that folder on LD_LIBRARY_PATH the loader finds them: only the rest is missing
    const withPath = formatReport(await checkProviders({ onnxruntimeDir: ort.dir, askPython: false, loader: { ldLibraryPath: wheels } }));
    assert.doesNotMatch(withPath, /libcublasLt\.so\.13 +missing/);
    assert.doesNotMatch(withPath, /libcurand\.so\.10 +missing/);
    assert.match(withPath, /libcudnn\.so\.9 +missing/);
  });

  it('a provider for another onnxruntime version is reported as not fitting', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    writeProviderLibraries(ort.binDir, '1.28.0', 13);
    const report = await checkProviders({ onnxruntimeDir: ort.dir, askPython: false });
    const cuda = report.providers.find((p) => p.provider === 'cuda')!;
    assert.equal(cuda.loads, false);
    assert.match(cuda.summary, /of onnxruntime 1\.28\.0 does not fit onnxruntime-node 1\.29\.0/);
  });

  it('--static with every library but the driver present: not failed (the image-build check); without cuDNN: failed', async () => {
    const ort = fakeOnnxruntimeNode(fresh('ort'), PINNED_ONNXRUNTIME);
    writeProviderLibraries(ort.binDir, PINNED_ONNXRUNTIME, 13);
    const libs = fakeLibraryDir(fresh('cuda13'), ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcudnn.so.9']);
    const ok = (await checkProviders({ onnxruntimeDir: ort.dir, static: true, askPython: false, loader: { ldLibraryPath: libs } })).providers.find((p) => p.provider === 'cuda')!;
    assert.notEqual(ok.loads, false, ok.summary);
    assert.match(ok.summary, /libraries are found; not started \(--static\)/);
    const noCudnn = fakeLibraryDir(fresh('cuda13'), ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13']);
    const bad = (await checkProviders({ onnxruntimeDir: ort.dir, static: true, askPython: false, loader: { ldLibraryPath: noCudnn, cache: new Map(), defaultDirs: [] } })).providers.find((p) => p.provider === 'cuda')!;
    assert.equal(bad.loads, false);
    assert.match(bad.summary, /libcudnn\.so\.9 not found$/);
  });
});

describe('provider libraries, read without loading them', () => {
  it('reads DT_NEEDED, DT_SONAME, DT_RUNPATH and the onnxruntime version string', () => {
    const dir = fresh('elf');
    const path = join(dir, 'lib.so');
    writeFileSync(path, fakeElf({ needed: CUDA13_NEEDED, soname: 'libx.so', runpath: '$ORIGIN:/opt/x', rodata: ['1.3.2', '1.29.0', 'v1.30.0'] }));
    const info = readElfLibraryInfo(path);
    assert.deepEqual(info.needed, CUDA13_NEEDED);
    assert.equal(info.soname, 'libx.so');
    assert.deepEqual(info.runpath, ['$ORIGIN', '/opt/x']);
    assert.equal(info.machine, 62);
    assert.deepEqual(onnxruntimeVersionsIn(path), ['1.29.0'], 'two-digit minors only (zlib-like 1.3.2 is not onnxruntime)');
  });

  it('resolves dependencies in glibc’s order: RUNPATH with $ORIGIN, LD_LIBRARY_PATH, ld.so.cache, default folders', () => {
    const dir = fresh('resolve');
    const lib = join(dir, 'lib', 'libp.so');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(lib, fakeElf({ needed: ['liba.so.1', 'libb.so.2', 'libc1.so.3', 'libd.so.4', 'libgone.so.5'], runpath: '$ORIGIN/../deps' }));
    fakeLibraryDir(join(dir, 'deps'), ['liba.so.1']);
    const env = fakeLibraryDir(join(dir, 'env'), ['libb.so.2']);
    const cached = fakeLibraryDir(join(dir, 'cached'), ['libc1.so.3']);
    const defaults = fakeLibraryDir(join(dir, 'default'), ['libd.so.4']);
    const got = resolveDependencies(lib, ['liblater.so.9'], { ldLibraryPath: env, cache: new Map([['libc1.so.3', join(cached, 'libc1.so.3')]]), defaultDirs: [defaults] });
    assert.deepEqual(got, [
      { soname: 'liba.so.1', path: join(dir, 'lib', '..', 'deps', 'liba.so.1') },
      { soname: 'libb.so.2', path: join(env, 'libb.so.2') },
      { soname: 'libc1.so.3', path: join(cached, 'libc1.so.3') },
      { soname: 'libd.so.4', path: join(defaults, 'libd.so.4') },
      { soname: 'libgone.so.5' },
      { soname: 'liblater.so.9' },
    ]);
  });

  it('reads this machine’s /etc/ld.so.cache', () => {
    const cache = readLdCache();
    if (cache.size === 0) return; // no glibc cache here
    assert.ok(cache.has('libc.so.6'), 'libc.so.6 is in every glibc cache');
    assert.ok(existsSync(cache.get('libc.so.6')!));
  });

  it('the engine names all missing CUDA libraries at once (not onnxruntime’s first failed dlopen)', () => {
    const dir = fresh('engine');
    writeProviderLibraries(dir, PINNED_ONNXRUNTIME, 13);
    const reason = cudaProviderUnavailability(dir)!;
    assert.match(reason, /^libcublasLt\.so\.13, libcublas\.so\.13, libcurand\.so\.10, .*libcudnn\.so\.9 not found \(latentwalk gpu check says where each comes from\)$/);
    assert.match(cudaProviderUnavailability(fresh('empty'))!, /^libonnxruntime_providers_cuda\.so not found \(install it with: latentwalk gpu install cuda13/);
  });

  it('extracts only the named entries of a package tarball, long (pax) paths included', async () => {
    const dir = fresh('tar');
    const long = `package/${'deep/'.repeat(30)}libx.so`;
    writeFileSync(join(dir, 'p.tgz'), tarGz([
      { path: 'package/a.txt', data: Buffer.from('a') },
      { path: long, data: Buffer.alloc(70_000, 7) },
      { path: 'package/b.txt', data: Buffer.from('bb') },
    ]));
    const found = await extractFromTarball(join(dir, 'p.tgz'), new Map([[long, join(dir, 'x')], ['package/b.txt', join(dir, 'b')], ['package/none', join(dir, 'n')]]));
    assert.deepEqual([...found].sort(), [long, 'package/b.txt'].sort());
    assert.deepEqual(readFileSync(join(dir, 'x')), Buffer.alloc(70_000, 7));
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'bb');
    assert.ok(!existsSync(join(dir, 'n')));
  });

  it('says where each library usually comes from', () => {
    assert.match(librarySource('libcuda.so.1', 13), /NVIDIA driver/);
    assert.match(librarySource('libcublasLt.so.12', 12), /CUDA 12 toolkit.*nvidia-cublas-cu12/);
    assert.match(librarySource('libcudnn.so.9', 13), /cuDNN 9 for CUDA 13/);
  });

  it('the pinned onnxruntime-node is the one installed, and it has a CUDA 13 build on the npm registry', () => {
    const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string };
    const declared = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['onnxruntime-node'];
    assert.equal(declared, PINNED_ONNXRUNTIME, 'package.json pins it exactly');
    assert.equal(installed.version, PINNED_ONNXRUNTIME);
    assert.ok(CUDA13_ON_NPM.some((p) => p.onnxruntime === PINNED_ONNXRUNTIME));
  });
});
