/**
 * `npm run bench`: the engine's per-stage timings and frames per second on the default bundled pack (or --model),
 * for each walk kind and two batch sizes (after a warm-up render, text encoding timed uncached; shapes prompts, or
 * the model's own suggestions where it declares a vocabulary that lacks their words); the smoothness table (off,
 * even and blend for morphs, loops, walks and grids: steps, cost, bytes; its prompts are shapes', so it runs on
 * the shapes pack when the model does not know them); the same morph rendered by a
 * PyTorch implementation of the bundled model (frames compared, time ratio); on the "shapes" pack, its
 * prompt-adherence scores over the fixed prompt list (tools/train-shapes/adherence.json); then the GIF encoder
 * next to ffmpeg's two-pass palette encoder (bench/gif.ts). Figures, not assertions: these machines are shared
 * and noisy.
 *
 *   npm run bench [-- --model NAME|DIR] [--runs N] [--threads N] [--quick] [--no-smooth] [--no-torch] [--no-gif]
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLED_MODEL_DIR, encodeArtifact, composeGrid, loadModel, render, type LoadedModel, type WalkSpec } from '../src/engine/index.ts';
import { formatAdherence, loadAdherenceSpec, scoreAdherence } from '../tools/train-shapes/shapeMeasure.ts';
import { EMOJI_PACK_DIR } from '../tools/train-emoji/emojiMeasure.ts';
import { runEmojiBench } from './emoji.ts';
import { formatGifBench, runGifBench } from './gif.ts';
import { BENCH_CHAINS, BENCH_GRIDS, BENCH_MORPHS, BENCH_SHAPES, runSmoothnessBench, summarizeSmoothness } from './smoothness.ts';
import { compareWithTorch, torchUnavailable } from './torch.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    runs: { type: 'string' },
    threads: { type: 'string' },
    quick: { type: 'boolean' },
    'no-gif': { type: 'boolean' },
    'no-smooth': { type: 'boolean' },
    'no-torch': { type: 'boolean' },
  },
});
const runs = Number(values.runs ?? 3);
const threads = values.threads !== undefined ? Number(values.threads) : undefined;
const model = await loadModel(values.model ?? BUNDLED_MODEL_DIR, threads !== undefined ? { threads } : {});
const d = model.defaults;
console.log(
  `engine bench: model '${model.name}' on ${model.provider} (${threads ?? `onnxruntime's default`} threads, ${availableParallelism()} cores), ${d.width}x${d.height}, ` +
    `${d.steps} steps, guidance ${d.guidance}, median of ${runs} warm runs`,
);

const SHAPES_SPECS: WalkSpec[] = [
  { kind: 'morph', prompts: ['a red circle', 'a blue square'], frames: 16 },
  { kind: 'grid', prompts: ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'], gridSize: 4 },
  { kind: 'walk', prompts: ['a purple ring'], frames: 16 },
  { kind: 'loop', prompts: ['a green star'], frames: 16 },
];

/** Whether the model knows every word of these prompts (models that declare no vocabulary take any). */
const knows = (m: Pick<LoadedModel, 'vocabulary'>, prompts: readonly string[]) => !m.vocabulary || m.vocabulary.unknownWords(prompts).length === 0;

/** The shapes walks, or the same walks over the model's first suggestions where it does not know shapes' words. */
function timingSpecs(m: Pick<LoadedModel, 'vocabulary' | 'suggestions'>): WalkSpec[] {
  const s = m.suggestions ?? [];
  if (knows(m, SHAPES_SPECS.flatMap((spec) => spec.prompts)) || s.length < 6) return SHAPES_SPECS;
  return [
    { kind: 'morph', prompts: [s[0]!, s[1]!], frames: 16 },
    { kind: 'grid', prompts: [s[0]!, s[1]!, s[2]!, s[3]!], gridSize: 4 },
    { kind: 'walk', prompts: [s[4]!], frames: 16 },
    { kind: 'loop', prompts: [s[5]!], frames: 16 },
  ];
}
const specs = timingSpecs(model);
if (specs !== SHAPES_SPECS) console.log(`prompts: the model's own suggestions ("${[...new Set(specs.flatMap((spec) => spec.prompts))].join('", "')}"): it does not know shapes' words`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `${'kind'.padEnd(6)} ${'smooth'.padEnd(6)} ${pad('batch', 5)} ${pad('frames', 6)} ${pad('text ms', 8)} ${pad('denoise ms', 10)} ${pad('decode ms', 9)} ${pad('encode ms', 9)} ${pad('total ms', 9)} ${pad('frames/s', 8)} ${pad('calls', 5)} ${pad('bytes', 8)}`,
);
for (const spec of specs) {
  for (const smooth of ['off', 'blend'] as const) {
    for (const batchSize of [1, d.batchSize > 1 ? d.batchSize : 4]) {
      const settings = { batchSize, smooth };
      await render(model, spec, { seed: 41, ...settings }); // warm-up: sessions, graphs and allocator paths
      const rows: { text: number; denoise: number; decode: number; encode: number; total: number; bytes: number; frames: number; calls: number }[] = [];
      for (let r = 0; r < runs; r++) {
        model.prompts.clear(); // text encoding as a new prompt costs it, not a cache hit
        const t0 = performance.now();
        const { frames, report } = await render(model, spec, { seed: 42 + r, ...settings });
        const t1 = performance.now();
        const art = await encodeArtifact(spec.kind === 'grid' ? [composeGrid(frames, spec.gridSize, spec.gridSize)] : frames, {
          format: spec.kind === 'grid' ? 'png' : 'gif',
          fps: d.fps,
          rubberBand: spec.kind === 'morph' || spec.kind === 'walk',
          displayScale: d.displayScale,
        });
        const t2 = performance.now();
        rows.push({ text: report.timings.textEncodingMs, denoise: report.timings.denoisingMs, decode: report.timings.decodingMs, encode: t2 - t1, total: t2 - t0, bytes: art.bytes.length, frames: frames.length, calls: report.transformerCalls });
      }
      const m = (k: keyof (typeof rows)[number]) => median(rows.map((x) => x[k]));
      const fps = (m('frames') / (m('denoise') + m('decode'))) * 1000;
      console.log(
        `${spec.kind.padEnd(6)} ${smooth.padEnd(6)} ${pad(batchSize, 5)} ${pad(m('frames'), 6)} ${pad(m('text').toFixed(1), 8)} ${pad(m('denoise').toFixed(1), 10)} ${pad(m('decode').toFixed(1), 9)} ${pad(m('encode').toFixed(1), 9)} ${pad(m('total').toFixed(1), 9)} ${pad(fps.toFixed(1), 8)} ${pad(m('calls'), 5)} ${pad(m('bytes'), 8)}`,
      );
    }
  }
}
console.log('frames/s = frames / (denoise + decode time); text ms: the prompts encoded uncached (the cache is cleared before each run); calls: transformer runs');

if (!values['no-smooth']) {
  // The table's prompts are shapes prompts: a model with a vocabulary that lacks their words would render noise.
  const smoothPrompts = [...BENCH_MORPHS.flat(), ...BENCH_SHAPES, ...BENCH_GRIDS.flat(), ...BENCH_CHAINS.flat()];
  const smoothModel = knows(model, smoothPrompts) ? model : await loadModel('shapes', threads !== undefined ? { threads } : {});
  try {
    const on = smoothModel === model ? '' : `, on the shapes pack (the prompts are shapes'; '${model.name}' does not know their words)`;
    console.log(`\nsmoothness (seed 42, batch ${smoothModel.defaults.batchSize}${on}; step = mean absolute RGB change between consecutive frames, 0..255; bytes: the GIF/PNG as posted):`);
    const rows = await runSmoothnessBench(smoothModel, { quick: values.quick ?? false });
    for (const line of summarizeSmoothness(rows)) console.log(line);
  } finally {
    if (smoothModel !== model) await smoothModel.dispose();
  }
}

if (!values['no-torch'] && model.name === 'shapes') {
  const why = torchUnavailable();
  if (why) console.log(`\nPyTorch comparison skipped: ${why}`);
  else {
    const torchThreads = threads ?? availableParallelism();
    const prompts = ['a red circle', 'a blue square'] as const;
    const c = await compareWithTorch(model, { prompts, frames: 16, seed: 42, threads: torchThreads });
    console.log(`\nthe same morph in PyTorch ${c.torchVersion} (${c.threads} threads, bench/torch/shapes_morph.py, weights from the pack's ONNX files): "${prompts.join('" -> "')}", 16 frames, off`);
    console.log(
      `frames: largest difference ${c.maxDiff}/255 (${(c.differing * 100).toFixed(3)}% of values differ at all); warm render: engine ${c.engineMs.toFixed(0)} ms, PyTorch ${c.torchMs.toFixed(0)} ms, ` +
        `engine/PyTorch time ratio ${(c.engineMs / c.torchMs).toFixed(3)} (PyTorch ${(c.torchMs / c.engineMs).toFixed(1)}x the engine's time)`,
    );
  }
}

if (model.name === 'shapes') {
  const spec = loadAdherenceSpec();
  const score = await scoreAdherence(model, spec.prompts);
  console.log(`\nprompt adherence (fixed list, fixed seeds): ${formatAdherence(score)}`);
  console.log(`targets: colour ${spec.targets.colour * 100}%, shape ${spec.targets.shape * 100}%; ratio to target: colour ${(score.colour / spec.targets.colour).toFixed(2)}, shape ${(score.shape / spec.targets.shape).toFixed(2)}`);
}
await model.dispose();

// The emoji pack's recognisability (tools/train-emoji), whichever model was timed above.
if (existsSync(join(EMOJI_PACK_DIR, 'latentwalk.json'))) {
  console.log('');
  await runEmojiBench(threads !== undefined ? { threads } : {});
} else {
  console.log(`\nemoji recognisability skipped: no pack at ${EMOJI_PACK_DIR} (tools/train-emoji/README.md)`);
}

if (!values['no-gif']) {
  console.log('\nGIF encoding, 64 frames of 512x512 (synthetic walk-like frames):');
  const rows = await runGifBench({ log: () => undefined });
  console.log(formatGifBench(rows));
}
