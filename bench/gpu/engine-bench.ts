/**
 * Times the engine on a pack written by sd3_bench.py, through onnxruntime-node on the first provider of
 * --providers that starts (cuda, webgpu, cpu by default):
 *   1. one transformer call at batch 2 x --batch (guidance rows), inputs and output on the device, as the
 *      engine's device path makes it; its first outputs are compared with PyTorch's (--torch);
 *   2. the full --frames morph at --steps steps through render() (cut to one batch, then to fewer steps, and
 *      projected when it does not fit --budget);
 *   3. the provider's fp16 MatMul ceiling: an 8192^3 product and one of the MMDiT's own shapes (if time is left);
 *   4. optionally (--host-call) the same transformer call the host path makes (host tensors, fp16 converted
 *      in JavaScript, output copied back), i.e. what the engine did before the device path.
 *
 *   node --import tsx bench/gpu/engine-bench.ts --pack DIR --torch torch.json --out engine.json
 *
 * Timing follows sd3_bench.py's protocol (the same record goes into both result files; report.py compares them):
 * a wall clock around each call followed by a wait for the device, after the same number of untimed warm-up
 * calls (--warmup), and the median of the same number of timed calls (--iters); the morph: one untimed batch at
 * one step, then timed whole (--morph-runs). The wait here is a readback of a 4-value tensor through a session
 * with a host output: WebGPU runs whose outputs stay on the GPU return before the GPU is done, and the readback
 * waits for its queue; on cuda and cpu a run has finished when it returns, and the readback costs the same small
 * constant PyTorch's torch.cuda.synchronize() does. Nothing is subtracted and no second estimate is taken.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, parseProviderList, render } from '../../src/engine/index.ts';
import { encodeModel } from '../../src/engine/gpu/onnxWriter.ts';
import { hostFloatTensor, OnnxSession, type DeviceTensor } from '../../src/engine/onnx/OnnxSession.ts';
import type { FloatIo } from '../../src/engine/gpu/graphs.ts';

const T0 = performance.now();
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)} +${((performance.now() - T0) / 1000).toFixed(1).padStart(6)}s] engine-bench: ${msg}`);

const { values: args } = parseArgs({
  options: {
    pack: { type: 'string' },
    providers: { type: 'string', default: 'cuda,webgpu,cpu' },
    torch: { type: 'string' },
    out: { type: 'string', default: 'bench/gpu/results/engine.json' },
    frames: { type: 'string', default: '16' },
    steps: { type: 'string', default: '28' },
    batch: { type: 'string', default: '4' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'morph-runs': { type: 'string', default: '1' },
    reference: { type: 'string' },
    budget: { type: 'string', default: '240' },
    'matmul-n': { type: 'string', default: '8192' },
    'host-call': { type: 'boolean', default: false },
  },
});
if (!args.pack) throw new Error('--pack DIR is required');
const budgetMs = Number(args.budget) * 1000;
const frames = Number(args.frames);
const steps = Number(args.steps);
const batch = Number(args.batch);
const iters = Number(args.iters);
const warmup = Number(args.warmup);
const morphRuns = Math.max(1, Number(args['morph-runs']));
/** The protocol, as sd3_bench.py's TIMING plus the counts. */
const TIMING = { clock: 'wall', syncEachCall: true, statistic: 'median', warmup, iters };
const remaining = () => budgetMs - (performance.now() - T0);

interface TorchResults {
  reference?: { rows: number; first: number[] };
  flopsPerCall?: number;
  call?: { ms: number };
  morph?: { ms: number };
  matmul?: { tflops: number };
}
const torchResults: TorchResults = args.torch && existsSync(args.torch) ? (JSON.parse(readFileSync(args.torch, 'utf8')) as TorchResults) : {};
/** PyTorch's output on the formula's inputs, saved with the pack by sd3_bench.py (else in torch.json). */
const referencePath = args.reference ?? `${args.pack}/bench-reference.json`;
const reference = existsSync(referencePath) ? (JSON.parse(readFileSync(referencePath, 'utf8')) as { rows: number; first: number[] }) : torchResults.reference;

/** c * sin(a * i + b) in float64 rounded to float32: the same formula sd3_bench.py feeds PyTorch. */
function det(n: number, a: number, b: number, c: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = c * Math.sin(a * i + b);
  return out;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

/** A graph with a host output: reading it back waits for everything queued on the GPU before it. */
function castGraph(from: FloatIo, to: FloatIo, dims: (number | string)[]): Uint8Array {
  return encodeModel({
    name: 'bench_cast',
    inputs: [{ name: 'x', type: from, dims }],
    outputs: [{ name: 'y', type: to, dims }],
    nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attrs: { to: { i: to === 'float16' ? 10 : 1 } } }],
  });
}

const results: Record<string, unknown> = { startedAt: new Date().toISOString(), args, timing: TIMING };

/**
 * Wall time of fn() plus the wait for the device, after `warmup` untimed calls; median of `iters` (and all runs).
 * With `budgetMs`, fewer timed calls when `iters` of them (at the last warm-up's pace) would not fit, never under 2;
 * the result says how many ran.
 */
async function timeSynced(fn: () => Promise<void>, sync: () => Promise<void>, budgetMs = Infinity): Promise<{ ms: number; runs: number[]; count: number }> {
  let pace = 0;
  for (let i = 0; i < warmup; i++) {
    const s = performance.now();
    await fn();
    await sync();
    pace = performance.now() - s;
  }
  const count = Math.max(2, Math.min(iters, Math.floor(budgetMs / Math.max(pace, 1e-3))));
  const runs: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = performance.now();
    await fn();
    await sync();
    runs.push(performance.now() - s);
  }
  return { ms: median(runs), runs, count };
}

async function main(): Promise<void> {
  let t = performance.now();
  const providers = parseProviderList(args.providers!);
  const model = await loadModel(args.pack!, { providers, sampler: 'device', log: (l) => log(l) });
  const pack = model.pack;
  const provider = model.provider;
  results['provider'] = provider;
  results['providerLine'] = model.providerLine;
  results['loadMs'] = performance.now() - t;
  log(`pack loaded in ${((performance.now() - t) / 1000).toFixed(1)} s on ${provider}`);

  const tr = pack.transformer;
  const io = tr.session.input(tr.names.sample)!.type as FloatIo;
  const rows = 2 * batch;
  const latent = model.defaults.width / pack.vae.scaleFactor;
  const seq = 154;
  const open = (bytes: Uint8Array, label: string, onDevice: boolean) => OnnxSession.open(bytes, { provider, label, outputsOnDevice: onDevice, logSeverityLevel: 3 });
  const readback = await open(castGraph(io, 'float32', ['n', 'c', 'h', 'w']), 'readback', false);
  const upload32 = await open(castGraph('float32', 'float32', ['n']), 'upload', true);
  const tiny = (await upload32.runDevice({ x: hostFloatTensor('float32', Float32Array.of(1, 2, 3, 4), [4]) }))['y']!;
  const readback32 = await open(castGraph('float32', 'float32', ['n']), 'readback32', false);
  /** Waits for the GPU queue: reads a 4-value tensor back. */
  const sync = async () => {
    const out = await readback32.runDevice({ x: tiny });
    out['y']!.dispose();
  };
  await sync();
  const syncRuns: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    await sync();
    syncRuns.push(performance.now() - s);
  }
  const syncMs = median(syncRuns);

  // ------------------------------------------------------------------ 1. one transformer call, on the device
  const prepare = await pack.graphs.prepare(io, false);
  const prepared = await prepare.runDevice({
    x_in: hostFloatTensor('float32', det(rows * 16 * latent * latent, 0.37, 0.1, 0.8), [rows, 16, latent, latent]),
    context_in: hostFloatTensor('float32', det(rows * seq * tr.contextWidth, 0.011, 0, 0.5), [rows, seq, tr.contextWidth]),
    pooled_in: hostFloatTensor('float32', det(rows * tr.pooledWidth, 0.023, 0.3, 0.5), [rows, tr.pooledWidth]),
  });
  prepared['x']!.dispose();
  const tsType = tr.session.input(tr.names.timestep)!.type as FloatIo;
  const timestep = hostFloatTensor(tsType, Float32Array.from({ length: rows }, (_, r) => (1000 * (r + 1)) / (rows + 1)), [rows]);
  const feeds = { [tr.names.sample]: prepared['sample']!, [tr.names.context]: prepared['context']!, [tr.names.pooled]: prepared['pooled']!, [tr.names.timestep]: timestep };
  const call = async () => (await tr.session.runDevice(feeds))[tr.names.output]!;

  t = performance.now();
  const v: DeviceTensor = await call();
  await sync();
  const firstMs = performance.now() - t;
  results['firstCallMs'] = firstMs;
  log(`first transformer call (kernel/shader set-up included): ${(firstMs / 1000).toFixed(2)} s`);
  // compare with PyTorch's output on the same inputs
  const host = (await readback.runDevice({ x: v }))['y']!;
  const got = host.data as Float32Array;
  const ref = reference;
  let nonFinite = 0;
  for (const x of got) if (!Number.isFinite(x)) nonFinite++;
  const check: Record<string, number> = { nonFinite };
  if (ref && ref.rows === rows) {
    let maxAbs = 0;
    let num = 0;
    let den = 0;
    ref.first.forEach((r, i) => {
      const d = got[i]! - r;
      maxAbs = Math.max(maxAbs, Math.abs(d));
      num += d * d;
      den += r * r;
    });
    check['maxAbsDiff'] = maxAbs;
    check['relL2'] = Math.sqrt(num / Math.max(den, 1e-30));
    check['compared'] = ref.first.length;
    log(`output vs PyTorch (first ${ref.first.length} values): max |diff| ${maxAbs.toExponential(2)}, relative L2 ${check['relL2']!.toExponential(2)}; non-finite ${nonFinite}`);
  }
  results['check'] = check;
  host.dispose();
  v.dispose();

  // the same count as PyTorch's unless it would take over a third of the time left (the report says so)
  const timed = await timeSynced(async () => (await call()).dispose(), sync, remaining() / 3);
  const fits = timed.count;
  if (fits < iters) log(`only ${fits} timed calls fit the budget (PyTorch: ${iters}); the report says so`);
  const callMs = timed.ms;
  const flops = torchResults.flopsPerCall;
  results['call'] = { rows, ms: callMs, runs: timed.runs, iters: fits, syncMs, ...(flops ? { tflops: flops / callMs / 1e9 } : {}) };
  log(`one transformer call at batch ${rows}: ${callMs.toFixed(2)} ms median of ${fits} after ${warmup} warm-up (readback wait ${syncMs.toFixed(2)} ms included)${flops ? `, ${(flops / callMs / 1e9).toFixed(1)} TFLOP/s` : ''}`);
  for (const k of ['sample', 'context', 'pooled'] as const) prepared[k]!.dispose();
  save();

  // ------------------------------------------------------------------ 2. the morph through render()
  // Cut to what fits the budget left (one batch, then fewer steps) and project linearly; the report says so.
  const batches = Math.ceil(frames / batch);
  const left = remaining() - 40_000;
  const perStep = callMs * 1.1;
  const runFrames = batches * steps * perStep + 10_000 < left ? frames : Math.min(frames, Math.max(2, batch));
  const runSteps = runFrames === frames || steps * perStep + 10_000 < left ? steps : Math.max(2, Math.floor((left - 10_000) / perStep));
  const projected = runFrames !== frames || runSteps !== steps;
  if (projected) log(`the full morph does not fit the budget left: rendering ${runFrames} frames at ${runSteps} steps and projecting`);
  const spec = { kind: 'morph', prompts: ['a red fox in fresh snow', 'a lighthouse at dusk'], frames: runFrames } as const;
  const settings = { seed: 7, steps: runSteps, batchSize: batch, width: model.defaults.width, height: model.defaults.height, guidance: 7 };
  // warm-up as PyTorch's: one batch at one step (the decoder and the engine graphs at this batch size), untimed
  await render(model, { kind: 'morph', prompts: spec.prompts, frames: Math.min(runFrames, batch) }, { ...settings, steps: 1 });
  const morphTimes: number[] = [];
  let out: Awaited<ReturnType<typeof render>> | undefined;
  for (let i = 0; i < (projected ? 1 : morphRuns); i++) {
    const s = performance.now();
    out = await render(model, spec, settings);
    morphTimes.push(performance.now() - s);
  }
  const morphMs = median(morphTimes);
  const scale = (batches / Math.ceil(runFrames / batch)) * (steps / runSteps);
  results['morph'] = { frames, framesRendered: runFrames, stepsRendered: runSteps, projected, ms: morphMs * scale, measuredMs: morphMs, runs: morphTimes, timings: out!.report.timings, framesPerSecond: frames / ((morphMs * scale) / 1000), size: `${settings.width}x${settings.height}`, steps, batchSize: batch };
  save();
  log(`${frames}-frame ${settings.width}x${settings.height} morph at ${steps} steps: ${((morphMs * scale) / 1000).toFixed(2)} s${projected ? ' (projected)' : ''}; measured ${(morphMs / 1000).toFixed(2)} s: denoise ${(out!.report.timings.denoisingMs / 1000).toFixed(2)} s, decode ${(out!.report.timings.decodingMs / 1000).toFixed(2)} s`);

  // ------------------------------------------------------------------ 3. the provider's fp16 MatMul ceiling (for the record, if time is left)
  const matmul: Record<string, unknown> = {};
  const n = Number(args['matmul-n']);
  const tokens = (latent / 2) ** 2 + seq;
  const config = JSON.parse(readFileSync(`${pack.dir}/transformer/config.json`, 'utf8')) as { attention_head_dim: number; num_attention_heads: number };
  const h = config.attention_head_dim * config.num_attention_heads;
  for (const [name, m, k, nn] of [[`${n}^3`, n, n, n], [`ff ${rows * tokens}x${h}x${4 * h}`, rows * tokens, h, 4 * h]] as const) {
    if (remaining() < 30_000) break;
    const bBytes = new Uint8Array(k * nn * 2);
    const bits = new Uint16Array(bBytes.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] = 0x3000 + (i % 977); // fp16 values around 0.125..0.25
    const mm = await open(
      encodeModel({ name: 'bench_matmul', inputs: [{ name: 'a', type: 'float16', dims: [m, k] }], outputs: [{ name: 'y', type: 'float16', dims: [m, nn] }], initializers: [{ name: 'b', type: 'float16', dims: [k, nn], raw: bBytes }], nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }] }),
      'matmul',
      true,
    );
    const up = await open(castGraph('float32', 'float16', [m, k]), 'upload16', true);
    const a = (await up.runDevice({ x: hostFloatTensor('float32', det(m * k, 0.7, 0, 0.1), [m, k]) }))['y']!;
    const { ms } = await timeSynced(async () => (await mm.runDevice({ a }))['y']!.dispose(), sync, (remaining() - 20_000) / 2);
    const tflops = (2 * m * k * nn) / ms / 1e9;
    matmul[name] = { m, k, n: nn, ms, tflops };
    log(`${provider} fp16 MatMul ${name}: ${ms.toFixed(2)} ms, ${tflops.toFixed(1)} TFLOP/s`);
    a.dispose();
    await Promise.all([mm.dispose(), up.dispose()]);
  }
  results['matmul'] = matmul;
  save();

  // ------------------------------------------------------------------ 4. the host path's call (optional)
  if (args['host-call'] && remaining() > 60_000) {
    const hostSession = await OnnxSession.open(`${pack.dir}/transformer/model.onnx`, { provider, label: 'transformer (host I/O)' });
    const hostFeeds = {
      [tr.names.sample]: { type: 'float32' as const, data: det(rows * 16 * latent * latent, 0.37, 0.1, 0.8), dims: [rows, 16, latent, latent] },
      [tr.names.context]: { type: 'float32' as const, data: det(rows * seq * tr.contextWidth, 0.011, 0, 0.5), dims: [rows, seq, tr.contextWidth] },
      [tr.names.pooled]: { type: 'float32' as const, data: det(rows * tr.pooledWidth, 0.023, 0.3, 0.5), dims: [rows, tr.pooledWidth] },
      [tr.names.timestep]: { type: 'float32' as const, data: Float32Array.from({ length: rows }, (_, r) => (1000 * (r + 1)) / (rows + 1)), dims: [rows] },
    };
    const { runs } = await timeSynced(async () => void (await hostSession.run(hostFeeds, [tr.names.output])), sync, (remaining() - 20_000) / 2);
    results['hostCall'] = { ms: median(runs), runs };
    log(`the host path's call (host tensors, fp16 converted in JavaScript): ${median(runs).toFixed(1)} ms`);
    await hostSession.dispose();
  }

  // the tensor before the session that made it (the other order crashes Dawn on webgpu with onnxruntime 1.29)
  tiny.dispose();
  save();
  await Promise.all([readback.dispose(), readback32.dispose(), upload32.dispose(), model.dispose()]);
}

/** Writes what is known so far: a crash later (a provider's teardown, say) loses nothing already measured. */
function save(): void {
  results['totalMs'] = performance.now() - T0;
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, JSON.stringify(results, null, 2));
}

main()
  .catch((error: unknown) => {
    results['error'] = error instanceof Error ? error.message : String(error);
    log(`failed: ${results['error']}`);
    process.exitCode = 1;
  })
  .finally(() => {
    save();
    log(`wrote ${args.out}`);
  });
