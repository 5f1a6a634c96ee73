/**
 * bench/gpu/run.sh end to end at a CPU scale: the worker's provider choice; sd3_bench.py builds the
 * SD3-architecture models small (1 block, hidden 64) and exports the pack (fused com.microsoft
 * MultiHeadAttention), then rebuilds and times them in PyTorch; engine-bench.ts loads the pack on the cpu
 * provider, checks the transformer against PyTorch's output on the same inputs, times the call and the morph with
 * the same protocol and measures the MatMul ceiling; report.py writes the ratios. Skipped where no python3 with
 * torch is found (the Debian one here has torch 1.13; the GPU host's has 2.11).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const work = mkdtempSync(join(tmpdir(), 'latentwalk-gpu-bench-'));

describe('bench/gpu/run.sh at a CPU scale', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  it('exports an SD3-layout pack the engine loads, matches PyTorch on it, times both sides the same way and reports ratios', { skip: python ? false : 'no python3 with torch', timeout: 300_000 }, () => {
    const out = join(work, 'results');
    const r = spawnSync('bash', [join(ROOT, 'bench/gpu/run.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 280_000,
      env: {
        ...process.env,
        OUT: out,
        BENCH_WORK: join(work, 'pack-work'),
        PYTHON: python!,
        PROVIDERS: 'cpu',
        ITERS: '3',
        WARMUP: '1',
        SD3_ARGS: '--small --device cpu --dtype fp32 --frames 4 --steps 3',
        ENGINE_ARGS: '--matmul-n 256 --frames 4 --steps 3',
      },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const pack = join(work, 'pack-work', 'pack');
    for (const rel of ['model_index.json', 'latentwalk.json', 'bench-reference.json', 'transformer/model.onnx', 'transformer/config.json', 'vae_decoder/model.onnx', 'text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'tokenizer/vocab.json']) {
      assert.ok(existsSync(join(pack, rel)), rel);
    }
    const graph = readFileSync(join(pack, 'transformer/model.onnx'));
    assert.ok(graph.includes('MultiHeadAttention') && graph.includes('com.microsoft'), 'fused attention nodes in the export');
    type Timing = { clock: string; syncEachCall: boolean; statistic: string; warmup: number; iters: number };
    const torch = JSON.parse(readFileSync(join(out, 'torch.json'), 'utf8')) as { timing: Timing; sameWeightsAsPack: { relL2: number }; call: { runs: number[] }; morph: { runs: number[] } };
    const engine = JSON.parse(readFileSync(join(out, 'engine-cpu.json'), 'utf8')) as { error?: string; timing: Timing; check: { relL2: number; nonFinite: number }; call: { runs: number[] }; morph: { framesRendered: number; runs: number[] } };
    assert.equal(engine.error, undefined);
    // the models PyTorch timed are the pack's (rebuilt from the same seed in the timing phase)
    assert.ok(torch.sameWeightsAsPack.relL2 < 1e-6, `rebuilt vs exported ${torch.sameWeightsAsPack.relL2}`);
    assert.ok(engine.check.relL2 < 1e-4, `engine vs PyTorch relative L2 ${engine.check.relL2}`);
    assert.equal(engine.check.nonFinite, 0);
    assert.equal(engine.morph.framesRendered, 4);
    // one protocol on both sides: wall clock, a device wait after each call, the same warm-up and count, medians
    assert.deepEqual(engine.timing, torch.timing);
    assert.deepEqual(torch.timing, { clock: 'wall', syncEachCall: true, statistic: 'median', warmup: 1, iters: 3 });
    assert.equal(torch.call.runs.length, 3);
    assert.equal(engine.call.runs.length, 3);
    assert.equal(torch.morph.runs.length, engine.morph.runs.length);
    // the worker's choice with LATENTWALK_PROVIDER unset: cuda where it starts; here cpu, saying why not cuda
    const worker = JSON.parse(readFileSync(join(out, 'worker.json'), 'utf8')) as { provider: string; line: string };
    assert.equal(worker.provider, 'cpu');
    assert.match(worker.line, /^execution provider: cpu \(cuda: /);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { cpu: { callRatio: number; morphRatio: number }; targets: Record<string, boolean> };
    assert.ok(report.cpu.callRatio > 0 && report.cpu.morphRatio > 0);
    assert.equal(report.targets['worker picks cuda with LATENTWALK_PROVIDER unset'], false);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /ratio/);
    assert.match(md, /timing protocol: .* the engine's is the same/);
  });
});
