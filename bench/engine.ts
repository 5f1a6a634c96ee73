/**
 * `npm run bench`: the engine's per-stage timings and frames per second on the bundled pack, for each walk
 * kind and two batch sizes; on the "shapes" pack, its prompt-adherence scores over the fixed prompt list
 * (tools/train-shapes/adherence.json); then the GIF encoder next to ffmpeg's two-pass palette encoder (bench/gif.ts).
 * Figures, not assertions: these machines are shared and noisy.
 *
 *   npm run bench [-- --model DIR] [-- --no-gif]
 */
import { parseArgs } from 'node:util';
import { BUNDLED_MODEL_DIR, encodeArtifact, composeGrid, loadModel, render, type WalkSpec } from '../src/engine/index.ts';
import { formatAdherence, loadAdherenceSpec, scoreAdherence } from '../tools/train-shapes/shapeMeasure.ts';
import { formatGifBench, runGifBench } from './gif.ts';

const { values } = parseArgs({ options: { model: { type: 'string' }, 'no-gif': { type: 'boolean' }, runs: { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const model = await loadModel(values.model ?? BUNDLED_MODEL_DIR);
const d = model.defaults;
console.log(`engine bench: model '${model.name}' on ${model.provider}, ${d.width}x${d.height}, ${d.steps} steps, guidance ${d.guidance}, median of ${runs} runs`);

const specs: WalkSpec[] = [
  { kind: 'morph', prompts: ['a red circle', 'a blue square'], frames: 16 },
  { kind: 'grid', prompts: ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'], gridSize: 4 },
  { kind: 'walk', prompts: ['a purple ring'], frames: 16 },
  { kind: 'loop', prompts: ['a green star'], frames: 16 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`${'kind'.padEnd(6)} ${pad('batch', 5)} ${pad('frames', 6)} ${pad('text ms', 8)} ${pad('denoise ms', 10)} ${pad('decode ms', 9)} ${pad('encode ms', 9)} ${pad('total ms', 9)} ${pad('frames/s', 8)} ${pad('bytes', 8)}`);
for (const spec of specs) {
  for (const batchSize of [1, d.batchSize > 1 ? d.batchSize : 4]) {
    const rows: { text: number; denoise: number; decode: number; encode: number; total: number; bytes: number; frames: number }[] = [];
    for (let r = 0; r < runs; r++) {
      // a fresh prompt cache each run would hide nothing: text encoding is timed on the first run only
      const t0 = performance.now();
      const { frames, report } = await render(model, spec, { seed: 42 + r, batchSize });
      const t1 = performance.now();
      const art = await encodeArtifact(spec.kind === 'grid' ? [composeGrid(frames, spec.gridSize, spec.gridSize)] : frames, {
        format: spec.kind === 'grid' ? 'png' : 'gif',
        fps: d.fps,
        rubberBand: spec.kind === 'morph' || spec.kind === 'walk',
        displayScale: d.displayScale,
      });
      const t2 = performance.now();
      rows.push({ text: report.timings.textEncodingMs, denoise: report.timings.denoisingMs, decode: report.timings.decodingMs, encode: t2 - t1, total: t2 - t0, bytes: art.bytes.length, frames: frames.length });
    }
    const m = (k: keyof (typeof rows)[number]) => median(rows.map((x) => x[k]));
    const fps = (m('frames') / (m('denoise') + m('decode'))) * 1000;
    console.log(
      `${spec.kind.padEnd(6)} ${pad(batchSize, 5)} ${pad(m('frames'), 6)} ${pad(rows[0]!.text.toFixed(1), 8)} ${pad(m('denoise').toFixed(1), 10)} ${pad(m('decode').toFixed(1), 9)} ${pad(m('encode').toFixed(1), 9)} ${pad(m('total').toFixed(1), 9)} ${pad(fps.toFixed(1), 8)} ${pad(m('bytes'), 8)}`,
    );
  }
}
console.log('frames/s = rendered frames / (denoise + decode time); text ms is the first run (later runs hit the prompt cache)');

if (model.name === 'shapes') {
  const spec = loadAdherenceSpec();
  const score = await scoreAdherence(model, spec.prompts);
  console.log(`\nprompt adherence (fixed list, fixed seeds): ${formatAdherence(score)}`);
  console.log(`targets: colour ${spec.targets.colour * 100}%, shape ${spec.targets.shape * 100}%; ratio to target: colour ${(score.colour / spec.targets.colour).toFixed(2)}, shape ${(score.shape / spec.targets.shape).toFixed(2)}`);
}
await model.dispose();

if (!values['no-gif']) {
  console.log('\nGIF encoding, 64 frames of 512x512 (synthetic walk-like frames):');
  const rows = await runGifBench({ log: () => undefined });
  console.log(formatGifBench(rows));
}
