/**
 * Execution-provider selection: an ordered list, the first that starts wins, one log line says which and why
 * the others did not; a provider asked for alone that cannot start is one readable error line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EngineError, loadModel, parseProviderList } from '../src/engine/index.ts';
import { chooseProvider, probeProvider, staticUnavailability } from '../src/engine/onnx/providers.ts';
import { DEFAULT_PACK, TINY_PACK, packModelName } from './harness/packs.ts';
import { AUTO_PROVIDERS, loadEngineBackend } from '../src/worker/backend.ts';

const BIN = fileURLToPath(new URL('../bin/latentwalk.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-providers-'));
const cudaMissing = staticUnavailability('cuda');

function oneLine(e: unknown, pattern: RegExp): true {
  assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
  assert.equal(e.code, 'PROVIDER_UNAVAILABLE');
  assert.ok(!e.message.includes('\n'), 'one line');
  assert.match(e.message, pattern);
  return true;
}

describe('execution providers', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  it('parses a provider list and refuses unknown names', () => {
    assert.deepEqual(parseProviderList('cuda, webgpu,cpu'), ['cuda', 'webgpu', 'cpu']);
    assert.throws(() => parseProviderList('cuda,tpu'), /providers must be among cpu, webgpu, cuda, got 'tpu'/);
    assert.throws(() => parseProviderList(' , '), /at least one/);
  });

  it('cpu alone starts without a probe and says so', async () => {
    const choice = await chooseProvider(['cpu']);
    assert.deepEqual(choice, { provider: 'cpu', skipped: [], line: 'execution provider: cpu' });
  });

  it(
    'cuda without its provider libraries: one line naming the missing library and how to install it',
    { skip: cudaMissing ? false : 'the CUDA provider libraries are installed here' },
    async () => {
      await assert.rejects(loadModel(TINY_PACK, { provider: 'cuda' }), (e) =>
        oneLine(e, /^execution provider 'cuda' is not available: libonnxruntime_providers_cuda\.so not found \(install it with: latentwalk gpu install cuda13 \(CUDA 13 hosts\) or cuda12 .*latentwalk gpu check/),
      );
    },
  );

  it('cuda where its libraries exist: it starts, or fails with one line naming what is missing', { skip: cudaMissing ? 'no CUDA provider libraries here' : false }, async () => {
    const reason = await probeProvider('cuda');
    if (reason === undefined) {
      const model = await loadModel(TINY_PACK, { provider: 'cuda' });
      assert.equal(model.provider, 'cuda');
      await model.dispose();
    } else {
      assert.ok(!reason.includes('\n'));
      await assert.rejects(loadModel(TINY_PACK, { provider: 'cuda' }), (e) => oneLine(e, /cuda/));
    }
  });

  it('latentwalk render --provider cuda: one readable line on stderr, non-zero exit', { skip: cudaMissing ? false : 'the CUDA provider libraries are installed here' }, () => {
    const r = spawnSync(process.execPath, [BIN, 'render', 'morph', 'a', 'b', '--provider', 'cuda', '--out', 'x.gif'], { cwd: work, encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(r.status, 0);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
    assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, /cuda.*libonnxruntime_providers_cuda\.so not found/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('webgpu: loads where Dawn finds an adapter, else one line saying there is none', async () => {
    const reason = await probeProvider('webgpu');
    if (reason === undefined) {
      const model = await loadModel(TINY_PACK, { provider: 'webgpu' });
      assert.equal(model.provider, 'webgpu');
      await model.dispose();
    } else {
      // on Linux without a GPU: "Failed to get a WebGPU adapter: No supported adapters"
      assert.match(reason, /adapter|webgpu/i);
      await assert.rejects(loadModel(TINY_PACK, { provider: 'webgpu' }), (e) => oneLine(e, /^execution provider 'webgpu' is not available: /));
    }
  });

  it('an ordered list falls through to the first provider that starts, with one line for the reasons', async () => {
    const lines: string[] = [];
    const model = await loadModel(TINY_PACK, { providers: ['cuda', 'webgpu', 'cpu'], log: (l) => lines.push(l) });
    try {
      const providerLines = lines.filter((l) => l.startsWith('execution provider:'));
      assert.equal(providerLines.length, 1);
      assert.equal(model.providerLine, providerLines[0]);
      assert.match(model.providerLine, new RegExp(`^execution provider: ${model.provider}`));
      if (cudaMissing) assert.match(model.providerLine, /\(cuda: libonnxruntime_providers_cuda\.so not found/);
      if (model.provider === 'cpu') assert.match(model.providerLine, /; webgpu: /);
      const { frames } = await (await import('../src/engine/index.ts')).render(model, { kind: 'morph', prompts: ['a', 'b'], frames: 2 }, { seed: 1 });
      assert.equal(frames.length, 2);
    } finally {
      await model.dispose();
    }
  });

  it('a worker with LATENTWALK_PROVIDER unset tries cuda, then takes cpu, and logs why', async () => {
    assert.deepEqual(AUTO_PROVIDERS, ['cuda', 'cpu']);
    const lines: string[] = [];
    const backend = await loadEngineBackend({ log: (l) => lines.push(l) });
    try {
      const line = lines.find((l) => l.startsWith('execution provider:'))!;
      if (cudaMissing) {
        assert.equal(backend.name, `${packModelName(DEFAULT_PACK.dir)} on cpu`, 'the default bundled pack');
        assert.match(line, /^execution provider: cpu \(cuda: libonnxruntime_providers_cuda\.so not found/);
      } else {
        assert.match(line, /^execution provider: (cuda|cpu \(cuda: .+\))$/);
      }
    } finally {
      await backend.dispose();
    }
  });

  it('a list where nothing starts: one line with every reason', { skip: cudaMissing ? false : 'the CUDA provider libraries are installed here' }, async () => {
    await assert.rejects(chooseProvider(['cuda', 'cuda']), (e) => oneLine(e, /^none of the execution providers cuda, cuda is available: cuda: .*; cuda: /));
  });
});
