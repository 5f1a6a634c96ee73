/**
 * bench/gpu/run.sh end to end at a CPU scale: sd3_bench.py builds the SD3-architecture models small
 * (1 block, hidden 64), times them in PyTorch, exports the pack (fused com.microsoft MultiHeadAttention);
 * engine-bench.ts loads it through the provider list, checks the transformer against PyTorch's output on the
 * same inputs, renders the morph and measures the MatMul ceiling; report.py writes the ratios. Skipped where
 * no python3 with torch is found (the Debian one here has torch 1.13; the GPU host's has 2.11).
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

  it('exports an SD3-layout pack the engine loads, matches PyTorch on it, and reports ratios', { skip: python ? false : 'no python3 with torch', timeout: 300_000 }, () => {
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
        SD3_ARGS: '--small --device cpu --dtype fp32 --frames 4 --steps 3',
        ENGINE_ARGS: '--providers cuda,webgpu,cpu --iters 2 --matmul-n 256 --frames 4 --steps 3',
      },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const pack = join(work, 'pack-work', 'pack');
    for (const rel of ['model_index.json', 'latentwalk.json', 'transformer/model.onnx', 'transformer/config.json', 'vae_decoder/model.onnx', 'text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'tokenizer/vocab.json']) {
      assert.ok(existsSync(join(pack, rel)), rel);
    }
    const graph = readFileSync(join(pack, 'transformer/model.onnx'));
    assert.ok(graph.includes('MultiHeadAttention') && graph.includes('com.microsoft'), 'fused attention nodes in the export');
    const engine = JSON.parse(readFileSync(join(out, 'engine.json'), 'utf8')) as { error?: string; check: { relL2: number; nonFinite: number }; morph: { framesRendered: number } };
    assert.equal(engine.error, undefined);
    assert.ok(engine.check.relL2 < 1e-4, `engine vs PyTorch relative L2 ${engine.check.relL2}`);
    assert.equal(engine.check.nonFinite, 0);
    assert.equal(engine.morph.framesRendered, 4);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { callRatio: number; morphRatio: number };
    assert.ok(report.callRatio > 0 && report.morphRatio > 0);
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /ratio/);
  });
});
