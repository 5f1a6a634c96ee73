/** `latentwalk demo`: the product without Discord — a morph, a grid, a walk and a loop from the bundled model into out/. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type LoadedModel } from '../engine/index.ts';
import { CliUsageError } from './CliError.ts';
import { ProgressBar } from './ProgressBar.ts';
import { DEFAULT_SEED, describeOutcome, parseProviders, renderToFile, type RenderJob } from './render.ts';

export const DEMO_JOBS: ReadonlyArray<Pick<RenderJob, 'spec'> & { file: string }> = [
  { file: 'morph.gif', spec: { kind: 'morph', prompts: ['a red circle', 'a blue square'], frames: undefined } },
  { file: 'grid.png', spec: { kind: 'grid', prompts: ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'], gridSize: undefined } },
  { file: 'walk.gif', spec: { kind: 'walk', prompts: ['a purple ring on a white background'], frames: undefined } },
  { file: 'loop.gif', spec: { kind: 'loop', prompts: ['a green star on a black background'], frames: undefined } },
];

/**
 * The demo's jobs for this model: the ones above when the model knows their words (or declares no
 * vocabulary), else the same four walks over the model's own first suggestions.
 */
export function demoJobsFor(model: Pick<LoadedModel, 'vocabulary' | 'suggestions'>): typeof DEMO_JOBS {
  const fits = !model.vocabulary || DEMO_JOBS.every((job) => model.vocabulary!.unknownWords(job.spec.prompts).length === 0);
  const s = model.suggestions ?? [];
  if (fits || s.length < 6) return DEMO_JOBS;
  return [
    { file: 'morph.gif', spec: { kind: 'morph', prompts: [s[0]!, s[1]!], frames: undefined } },
    { file: 'grid.png', spec: { kind: 'grid', prompts: [s[0]!, s[1]!, s[2]!, s[3]!], gridSize: undefined } },
    { file: 'walk.gif', spec: { kind: 'walk', prompts: [s[4]!], frames: undefined } },
    { file: 'loop.gif', spec: { kind: 'loop', prompts: [s[5]!], frames: undefined } },
  ];
}

export async function runDemoCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { 'out-dir': { type: 'string' }, model: { type: 'string' }, provider: { type: 'string' } } }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const outDir = resolve(values['out-dir'] ?? 'out');
  const started = performance.now();
  const model = await loadModel(values.model, { providers: parseProviders(values.provider) });
  console.log(`demo: model '${model.name}' (${model.dir}), writing to ${outDir}`);
  try {
    for (const { file, spec } of demoJobsFor(model)) {
      const out = resolve(outDir, file);
      const t0 = performance.now();
      const outcome = await renderToFile(model, { spec, modelDir: model.dir, providers: [model.provider], seed: DEFAULT_SEED, rubberBand: true, out }, new ProgressBar());
      for (const line of describeOutcome(outcome, out)) console.log(line);
      console.log(`  ${spec.kind}: "${spec.prompts.join('" | "')}" in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await model.dispose();
  }
  console.log(`demo: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}
