/**
 * The chain walk: a closed path through 2 to 8 prompts and back to the first. Without a model: where the
 * guide's frames go (split between the legs, every stop a frame), the path itself, the spec's bounds. On the
 * bundled "shapes" model: a blended chain flows all the way round, the seam from the last stop back to the
 * first included (the engine's smoothness figure counts it; no repeated frame, no jump), its stops are exactly
 * the single renders of their prompts, it costs no more than the guide's walk, and it resumes from checkpointed
 * frames and latents to the same GIF bytes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeArtifact, loadModel, render, type FrameBatch, type LoadedModel, type RgbFrame, type WalkSpec } from '../src/engine/index.ts';
import { EngineError } from '../src/engine/errors.ts';
import { validateSpec } from '../src/engine/RenderLimits.ts';
import { gaussianNoise } from '../src/engine/sampler/GaussianNoise.ts';
import { slerp } from '../src/engine/walks/slerp.ts';
import { frameChange } from '../src/engine/walks/Smoothness.ts';
import { evenPositions, legPositions } from '../src/engine/walks/WalkPath.ts';
import { planWalk, walkExtent, walkPath, type PromptEmbedding } from '../src/engine/walks/WalkPlan.ts';
import { SHAPES_PACK } from './harness/packs.ts';

const embedding = (seed: number): PromptEmbedding => ({ context: gaussianNoise(seed, 48, 7), pooled: gaussianNoise(seed, 8, 9) });
const same = (a: RgbFrame, b: RgbFrame) => a.width === b.width && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;

describe('chain walk (no model)', () => {
  it("the guide's frames are split between the legs, each leg from its stop, the seam leg like the others", () => {
    assert.deepEqual(legPositions([0, 1, 2, 3], 4, 8), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
    // 10 frames over 4 legs: the first two legs take 3, the others 2.
    const ten = legPositions([0, 1, 2, 3], 4, 10).map((p) => Number(p.toFixed(4)));
    assert.deepEqual(ten, [0, 0.3333, 0.6667, 1, 1.3333, 1.6667, 2, 2.5, 3, 3.5]);
    // As few frames as stops: the stops alone.
    assert.deepEqual(legPositions([0, 1, 2], 3, 3), [0, 1, 2]);
    assert.throws(() => legPositions([0, 1, 2], 3, 2), /needs at least 3 frames/);
    // evenPositions uses it for a chain's extent, and leaves loops (one stop) as they were.
    const chain: WalkSpec = { kind: 'chain', prompts: ['a', 'b', 'c'], frames: 7 };
    assert.deepEqual(walkExtent(chain), { length: 3, closed: true, stops: [0, 1, 2] });
    for (const stop of [0, 1, 2]) assert.ok(evenPositions(walkExtent(chain), 7).includes(stop), `stop ${stop} is a frame`);
    assert.deepEqual(evenPositions({ length: 4, closed: true, stops: [0] }, 4), [0, 1, 2, 3]);
  });

  it('the path is closed: position i is prompt i, position n is prompt 0 again, one noise throughout', () => {
    const embeddings = [embedding(1), embedding(2), embedding(3), embedding(4)];
    const spec: WalkSpec = { kind: 'chain', prompts: ['a', 'b', 'c', 'd'], frames: 12 };
    const path = walkPath(spec, embeddings, 5, 32);
    assert.equal(path.closed, true);
    assert.equal(path.length, 4);
    assert.deepEqual(path.stops, [0, 1, 2, 3]);
    embeddings.forEach((e, i) => assert.deepEqual(path.at(i).context, e.context, `stop ${i}`));
    assert.deepEqual(path.at(4).context, embeddings[0]!.context, 'the seam comes back to the first prompt');
    assert.deepEqual(path.at(3.5).noise, path.at(0.25).noise, 'every leg shares the noise');
    // The last leg is a morph from the last prompt to the first, as every other leg is from its prompt to the next.
    assert.deepEqual(path.at(3.5).context, slerp(0.5, embeddings[3]!.context, embeddings[0]!.context));
    assert.deepEqual(path.at(1.25).pooled, slerp(0.25, embeddings[1]!.pooled, embeddings[2]!.pooled));
    // The guide's plan: frame 0 is the first prompt, and the frame before the end is not the first again.
    const plan = planWalk({ spec, embeddings, seed: 5, noiseLength: 32 });
    assert.equal(plan.frameCount, 12);
    assert.deepEqual(plan.frame(0).context, embeddings[0]!.context);
    assert.deepEqual(plan.frame(9).context, embeddings[3]!.context);
    assert.notDeepEqual(plan.frame(11).context, embeddings[0]!.context);
  });

  it('takes 2 to 8 prompts and at least one frame per prompt', () => {
    const bad = (spec: WalkSpec, pattern: RegExp) => assert.throws(() => validateSpec(spec), (e: unknown) => e instanceof EngineError && pattern.test(e.message));
    bad({ kind: 'chain', prompts: ['a'], frames: 8 }, /chain takes 2 to 8 prompts, got 1/);
    bad({ kind: 'chain', prompts: Array.from({ length: 9 }, (_, i) => `p${i}`), frames: 32 }, /chain takes 2 to 8 prompts, got 9/);
    bad({ kind: 'chain', prompts: ['a', 'b', 'c', 'd'], frames: 3 }, /a chain of 4 prompts needs at least 4 frames, got 3/);
    assert.doesNotThrow(() => validateSpec({ kind: 'chain', prompts: ['a', 'b'], frames: 2 }));
  });
});

describe('chain walk on the bundled model', () => {
  let model: LoadedModel;
  before(async () => {
    model = await loadModel(SHAPES_PACK);
  });
  after(async () => {
    await model.dispose();
  });

  const CHAINS: readonly (readonly string[])[] = [
    ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'],
    ['a purple ring on a black background', 'an orange square on a gray background', 'a white star'],
    ['a big yellow star', 'a small green triangle, top left'],
    ['a red circle', 'a green star', 'a blue square', 'a yellow triangle', 'a purple ring', 'a white circle on a black background'],
  ];

  /** The guide's walk: consecutive batches, each running every step (as in smoothing-render.test.ts's off renders). */
  const offCalls = (frames: number, batchSize: number, steps: number) => Math.ceil(frames / batchSize) * steps;

  it('blend: the loop flows through every stop and back, the seam as smooth as any leg, for fewer calls than off', async () => {
    for (const prompts of CHAINS) {
      const frames = 8 * prompts.length;
      const spec: WalkSpec = { kind: 'chain', prompts, frames };
      const { frames: out, report } = await render(model, spec, { seed: 42, smooth: 'blend' });
      const s = report.smoothness;
      assert.equal(out.length, frames);
      assert.equal(s.steps.length, frames, 'the seam from the last frame back to the first counts');
      // Per leg, the largest step (the seam leg: from the last stop back to the first, wrap step included).
      const legOf = (i: number) => Math.floor(report.positions[i]!);
      const legLargest = prompts.map((_, leg) => Math.max(...s.steps.filter((_, i) => legOf(i) === leg)));
      const seamLeg = legLargest.at(-1)!;
      const seam = s.steps.at(-1)!;
      console.log(
        `# chain of ${prompts.length}, ${frames} frames: blend largest ${s.largest.toFixed(1)}, median ${s.median.toFixed(1)}, x${s.largestToMedian.toFixed(1)}; ` +
          `largest per leg ${legLargest.map((v) => v.toFixed(1)).join(' ')} (the last is the seam leg; wrap step ${seam.toFixed(1)}); ` +
          `${report.transformerCalls} transformer calls (off ${offCalls(frames, report.batchSize, report.steps)})`,
      );
      assert.ok(seam > 0 && frameChange(out.at(-1)!, out[0]!) === seam, 'no repeated frame at the seam');
      assert.ok(s.largestToMedian <= 4, `the largest step is ${s.largestToMedian.toFixed(1)}x the median`);
      assert.ok(seamLeg <= 4 * s.median, `the seam leg's largest step ${seamLeg.toFixed(1)} is within 4x the median ${s.median.toFixed(1)}, like any leg`);
      // Every stop is a frame; frames land on every leg.
      prompts.forEach((_, i) => assert.ok(report.positions.includes(i), `stop ${i} is a frame`));
      prompts.forEach((_, leg) => assert.ok(report.positions.filter((p) => Math.floor(p) === leg).length >= 2, `leg ${leg} has in-between frames`));
      assert.ok(report.transformerCalls <= offCalls(frames, report.batchSize, report.steps));
      assert.equal(report.kind, 'chain');
    }
  });

  it("keeps every stop exactly the single render of its prompt, and the guide's walk splits frames between legs", async () => {
    const prompts = CHAINS[0]!;
    const single = async (prompt: string) => (await render(model, { kind: 'morph', prompts: [prompt, prompt], frames: 2 }, { seed: 9, smooth: 'off', batchSize: 1 })).frames[0]!;
    const blend = await render(model, { kind: 'chain', prompts, frames: 16 }, { seed: 9, smooth: 'blend', batchSize: 1 });
    const off = await render(model, { kind: 'chain', prompts, frames: 16 }, { seed: 9, smooth: 'off', batchSize: 1 });
    assert.equal(off.report.transformerCalls, offCalls(16, 1, off.report.steps));
    console.log(`# chain of 4, 16 frames: off x${off.report.smoothness.largestToMedian.toFixed(1)} the median, blend x${blend.report.smoothness.largestToMedian.toFixed(1)}`);
    assert.ok(blend.report.smoothness.largestToMedian < off.report.smoothness.largestToMedian);
    assert.deepEqual(off.report.positions, [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75]);
    for (const [i, prompt] of prompts.entries()) {
      const alone = await single(prompt);
      assert.ok(same(blend.frames[blend.report.positions.indexOf(i)]!, alone), `blend: stop ${i}`);
      assert.ok(same(off.frames[4 * i]!, alone), `off: stop ${i}`);
    }
  });

  it('resumes from checkpointed frames and latents to the same GIF bytes', async () => {
    const spec: WalkSpec = { kind: 'chain', prompts: CHAINS[1]!, frames: 18 };
    const batches: FrameBatch[] = [];
    const full = await render(model, spec, { seed: 3, smooth: 'blend' }, { onBatch: (b) => void batches.push(b) });
    const gif = async (frames: RgbFrame[]) => Buffer.from((await encodeArtifact(frames, { format: 'gif', fps: 10, rubberBand: false, maxBytes: 400_000 })).bytes);
    const reference = await gif(full.frames);
    const saved = batches.slice(0, Math.ceil(batches.length / 2));
    const frames = new Map(saved.flatMap((b) => b.indices.map((i, k) => [i, b.frames[k]!] as const)));
    const states = new Map(saved.flatMap((b) => b.indices.map((i, k) => [i, b.states![k]!] as const)));
    const rendered: number[] = [];
    const resumed = await render(model, spec, { seed: 3, smooth: 'blend' }, { completedFrames: frames, completedStates: states, onBatch: (b) => void rendered.push(...b.indices) });
    assert.equal(resumed.report.resumedFrames, frames.size);
    assert.ok(rendered.length > 0 && rendered.every((i) => !frames.has(i)), 'saved nodes are not rendered again');
    assert.equal(Buffer.compare(await gif(resumed.frames), reference), 0, 'resumed GIF differs');
  });
});
