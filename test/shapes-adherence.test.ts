/**
 * The bundled "shapes" pack (models/shapes, trained by tools/train-shapes) follows its prompts, measured with
 * no human eye: every frame is rendered through the engine's public API and classified by the measure of
 * tools/train-shapes/adherence.json (test/harness/shapeMeasure.ts, a port of measure.py).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadModel, render, type LoadedModel } from '../src/engine/index.ts';
import {
  MEASURE,
  PALETTE,
  TOKEN_FIXTURES_FILE,
  analyseShape,
  colourProjection,
  formatAdherence,
  loadAdherenceSpec,
  scoreAdherence,
} from '../tools/train-shapes/shapeMeasure.ts';

// LATENTWALK_SHAPES_PACK: run the same checks on a retrained pack (tools/train-shapes/README.md, "Retraining").
const SHAPES_PACK = process.env.LATENTWALK_SHAPES_PACK ?? fileURLToPath(new URL('../models/shapes', import.meta.url));
const spec = loadAdherenceSpec();

describe('the shapes pack follows its prompts', () => {
  let model: LoadedModel;
  before(async () => {
    model = await loadModel(SHAPES_PACK);
  });
  after(async () => {
    await model.dispose();
  });

  it('renders with the sampler settings the adherence list was measured with', () => {
    assert.equal(model.name, 'shapes');
    const d = model.defaults;
    assert.equal(d.width, 64);
    assert.equal(d.height, 64);
    assert.equal(d.steps, spec.sampler.steps);
    assert.equal(d.guidance, spec.sampler.guidance);
    assert.equal(d.displayScale, 4);
  });

  it('measures with the constants and palette written down in adherence.json', () => {
    assert.deepEqual(spec.measure.constants, { ...MEASURE });
    assert.deepEqual(spec.measure.palette, Object.fromEntries(PALETTE.map(([k, v]) => [k, [...v]])));
  });

  it("the engine's tokenizers reproduce token-fixtures.json", () => {
    const fixtures = JSON.parse(readFileSync(TOKEN_FIXTURES_FILE, 'utf8')) as {
      prompts: { prompt: string; tokenizer: number[]; tokenizer_2: number[] }[];
    };
    assert.ok(fixtures.prompts.length >= 10);
    for (const f of fixtures.prompts) {
      assert.deepEqual(Array.from(model.pack.clipL.tokenizer.encode(f.prompt).ids, Number), f.tokenizer, `tokenizer: ${JSON.stringify(f.prompt)}`);
      assert.deepEqual(Array.from(model.pack.clipG.tokenizer.encode(f.prompt).ids, Number), f.tokenizer_2, `tokenizer_2: ${JSON.stringify(f.prompt)}`);
    }
  });

  it(`colour >= ${spec.targets.colour * 100}% and shape >= ${spec.targets.shape * 100}% over the ${spec.prompts.length} fixed prompts`, async () => {
    assert.ok(spec.prompts.length >= 40);
    const s = await scoreAdherence(model, spec.prompts);
    const misses = s.results
      .filter((r) => !r.colourOk || !r.shapeOk)
      .map((r) => `${r.prompt} (seed ${r.seed}) -> ${r.got.colour ?? 'nothing'} ${r.got.shape ?? ''}`);
    const line = `${formatAdherence(s)}; misses: ${misses.join('; ')}`;
    console.log(`# shapes adherence: ${line}`);
    assert.ok(s.colour >= spec.targets.colour, `colour adherence: ${line}`);
    assert.ok(s.shape >= spec.targets.shape, `shape adherence: ${line}`);
  });

  it('a morph "a red circle" -> "a blue square" turns a red round shape into a blue square one', async () => {
    const { frames } = await render(model, { kind: 'morph', prompts: ['a red circle', 'a blue square'], frames: 8 }, { seed: 42 });
    const a = frames.map(analyseShape);
    // Where the shape's mean colour lies on the line red -> blue (0 red, 1 blue).
    const t = a.map((x) => colourProjection(x, 'red', 'blue'));
    const line = a.map((x, i) => `${x.colour ?? '-'} ${x.shape ?? '-'} t=${t[i]!.toFixed(2)}`).join(' | ');
    assert.ok(t.every(Number.isFinite), `a shape in every frame: ${line}`);
    assert.equal(a[0]!.colour, 'red', line);
    assert.equal(a[0]!.shape, 'circle', line);
    assert.equal(a.at(-1)!.colour, 'blue', line);
    assert.equal(a.at(-1)!.shape, 'square', line);
    // Monotone enough: at most one consecutive pair goes back towards red (by more than 0.02 of the way).
    let reversals = 0;
    for (let i = 1; i < t.length; i++) if (t[i]! < t[i - 1]! - 0.02) reversals++;
    console.log(`# shapes morph: ${reversals} reversal(s); ${line}`);
    assert.ok(reversals <= 1, `${reversals} reversals of the red -> blue trend: ${line}`);
    assert.ok(t[0]! < 0.25 && t.at(-1)! > 0.75, line);
  });

  it('a 4-way grid shows each corner prompt in its corner', async () => {
    const prompts = ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'] as const;
    const want = [
      ['red', 'circle'],
      ['blue', 'square'],
      ['green', 'triangle'],
      ['yellow', 'star'],
    ];
    const n = 3;
    const { frames } = await render(model, { kind: 'grid', prompts, gridSize: n }, { seed: 42 });
    const corners = [0, n - 1, n * (n - 1), n * n - 1].map((i) => analyseShape(frames[i]!));
    console.log(`# shapes grid corners: ${corners.map((c) => `${c.colour} ${c.shape}`).join(', ')}`);
    corners.forEach((c, k) => {
      assert.deepEqual([c.colour, c.shape], want[k], `corner ${k} (${prompts[k]}): got ${c.colour} ${c.shape}`);
    });
  });
});
