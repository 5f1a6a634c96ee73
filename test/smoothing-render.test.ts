/**
 * Smoothing on the bundled "shapes" model: blended morphs, loops and walks flow (no step holds more than a
 * fifth of the change or is more than 4x the median), cost fewer transformer calls than the guide's walk,
 * keep their ends exactly the single renders, and resume to the same bytes. Figures for many more pairs:
 * `npm run bench`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeArtifact, loadModel, render, type FrameBatch, type LoadedModel, type RgbFrame, type SmoothMode, type WalkSpec } from '../src/engine/index.ts';

/** The three snapping pairs, then five more that differ in shape, colour and background. */
const SMOOTHING_MORPHS: readonly (readonly [string, string])[] = [
  ['a red circle', 'a blue square'],
  ['a big yellow star', 'a small green triangle, top left'],
  ['a purple ring on a black background', 'an orange square on a gray background'],
  ['a green triangle', 'a yellow ring'],
  ['a white star on a black background', 'a black circle on a white background'],
  ['a small orange circle, bottom right', 'a big purple square, top left'],
  ['a blue ring on a yellow background', 'a red star on a green background'],
  ['a gray square', 'an orange triangle on a blue background'],
];

const same = (a: RgbFrame, b: RgbFrame) => a.width === b.width && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

describe('smoothing on the bundled model', () => {
  let model: LoadedModel;
  const walk = (spec: WalkSpec, smooth: SmoothMode, extra: { batchSize?: number } = {}) => render(model, spec, { seed: 42, smooth, ...extra });

  before(async () => {
    model = await loadModel('shapes'); // shapes prompts: named, not the default pack
  });
  after(async () => {
    await model.dispose();
  });

  it('blend: 16-frame morphs between different shapes, colours and backgrounds flow, for fewer transformer calls than off', async () => {
    const off = await walk({ kind: 'morph', prompts: SMOOTHING_MORPHS[0]!, frames: 16 }, 'off');
    assert.ok(off.report.smoothness.largestShare > 0.5, `the guide's walk snaps: ${pct(off.report.smoothness.largestShare)}`);
    // The GIF as posted, for the diagnostic only: a blend morph's GIF is 1.6-4x the off one's (every frame
    // changes instead of two stills repeating; even a pixel cross-fade of the ends is about off's size).
    const gifBytes = async (frames: RgbFrame[]) =>
      (await encodeArtifact(frames, { format: 'gif', fps: model.defaults.fps, rubberBand: true, displayScale: model.defaults.displayScale })).bytes.length;
    console.log(`# off "${SMOOTHING_MORPHS[0]![0]}" -> "${SMOOTHING_MORPHS[0]![1]}": GIF ${await gifBytes(off.frames)} bytes`);
    for (const prompts of SMOOTHING_MORPHS) {
      const { frames, report } = await walk({ kind: 'morph', prompts, frames: 16 }, 'blend');
      const s = report.smoothness;
      console.log(
        `# blend "${prompts[0]}" -> "${prompts[1]}": largest ${s.largest.toFixed(1)} (${pct(s.largestShare)}), median ${s.median.toFixed(1)}, x${s.largestToMedian.toFixed(1)}; ${report.transformerCalls} calls (off ${off.report.transformerCalls}); GIF ${await gifBytes(frames)} bytes`,
      );
      assert.ok(s.largestShare <= 0.2, `"${prompts.join('" -> "')}": the largest step holds ${pct(s.largestShare)} of the change`);
      assert.ok(s.largestToMedian <= 4, `"${prompts.join('" -> "')}": the largest step is ${s.largestToMedian.toFixed(1)}x the median`);
      assert.ok(report.transformerCalls <= off.report.transformerCalls, `${report.transformerCalls} transformer calls, off takes ${off.report.transformerCalls}`);
      assert.ok(report.frameSteps < off.report.frameSteps);
    }
  });

  it('blend: 32-frame loops and walks of one-word shapes stay within 4x the median step, for fewer calls than off', async () => {
    // The guide's cost depends on the frame count only: one 32-frame off walk stands for both kinds.
    const offCalls = (await walk({ kind: 'loop', prompts: ['a red circle'], frames: 32 }, 'off')).report;
    for (const kind of ['loop', 'walk'] as const) {
      for (const prompt of ['a red circle', 'a green star']) {
        const { report } = await walk({ kind, prompts: [prompt], frames: 32 }, 'blend');
        const s = report.smoothness;
        console.log(`# blend ${kind} "${prompt}": largest ${s.largest.toFixed(1)}, median ${s.median.toFixed(1)}, x${s.largestToMedian.toFixed(1)}; ${report.transformerCalls} calls (off ${offCalls.transformerCalls})`);
        assert.ok(s.largestToMedian <= 4, `${kind} "${prompt}": the largest step is ${s.largestToMedian.toFixed(1)}x the median`);
        assert.ok(report.transformerCalls <= offCalls.transformerCalls);
        if (kind === 'loop') assert.equal(s.steps.length, 32, 'the seam counts');
      }
    }
  });

  it("blend keeps a morph's ends and a grid's corners exactly the single renders of their prompts", async () => {
    const single = async (prompt: string) => (await walk({ kind: 'walk', prompts: [prompt], frames: 2, stepSize: 0 }, 'off', { batchSize: 1 })).frames[0]!;
    const [a, b] = SMOOTHING_MORPHS[0]!;
    const morph = await walk({ kind: 'morph', prompts: [a, b], frames: 8 }, 'blend', { batchSize: 1 });
    assert.ok(same(morph.frames[0]!, await single(a)), 'first frame');
    assert.ok(same(morph.frames.at(-1)!, await single(b)), 'last frame');
    const prompts = ['a red circle', 'a blue square', 'a green star', 'a yellow ring'] as const;
    const grid = await walk({ kind: 'grid', prompts, gridSize: 3 }, 'blend', { batchSize: 1 });
    const corners = [0, 2, 6, 8];
    for (let k = 0; k < 4; k++) assert.ok(same(grid.frames[corners[k]!]!, await single(prompts[k]!)), `corner ${k}`);
    assert.equal(grid.report.smoothness.steps.length, 12, 'a 3x3 grid has 6 row pairs and 6 column pairs');
  });

  it('blend is deterministic and resumes from checkpointed frames and latents to the same GIF bytes', async () => {
    const spec = { kind: 'morph', prompts: SMOOTHING_MORPHS[1]!, frames: 16 } as const;
    const batches: FrameBatch[] = [];
    const full = await render(model, spec, { seed: 7, smooth: 'blend' }, { onBatch: (b) => void batches.push(b) });
    const again = await render(model, spec, { seed: 7, smooth: 'blend' });
    full.frames.forEach((f, i) => assert.ok(same(f, again.frames[i]!), `frame ${i} differs between two renders`));
    assert.ok(batches.every((b) => b.states?.length === b.frames.length), 'every blended batch hands out its latents');
    const gif = async (frames: RgbFrame[]) => (await encodeArtifact(frames, { format: 'gif', fps: 10, rubberBand: true, maxBytes: 200_000 })).bytes;
    const reference = Buffer.from(await gif(full.frames));

    // Killed after half of its batches: the resumed render replays the placement from the saved frames.
    const saved = batches.slice(0, Math.ceil(batches.length / 2));
    const frames = new Map(saved.flatMap((b) => b.indices.map((i, k) => [i, b.frames[k]!] as const)));
    const states = new Map(saved.flatMap((b) => b.indices.map((i, k) => [i, b.states![k]!] as const)));
    const rendered: number[] = [];
    const resumed = await render(model, spec, { seed: 7, smooth: 'blend' }, { completedFrames: frames, completedStates: states, onBatch: (b) => void rendered.push(...b.indices) });
    assert.equal(resumed.report.resumedFrames, frames.size);
    assert.ok(rendered.every((i) => !frames.has(i)), 'saved nodes are not rendered again');
    assert.equal(Buffer.compare(Buffer.from(await gif(resumed.frames)), reference), 0, 'resumed GIF differs');
    assert.equal(resumed.report.transformerCalls, full.report.transformerCalls, 'the report counts the walk, not the attempt');

    // A node whose latents were lost is rendered again (with its whole batch): still the same bytes.
    const lost = new Map(states);
    lost.delete(saved.at(-1)!.indices[0]!);
    const repaired = await render(model, spec, { seed: 7, smooth: 'blend' }, { completedFrames: frames, completedStates: lost });
    assert.equal(repaired.report.resumedFrames, frames.size - saved.at(-1)!.indices.length);
    assert.equal(Buffer.compare(Buffer.from(await gif(repaired.frames)), reference), 0, 'repaired GIF differs');
  });

  it('even places frames where a morph changes: steadier steps than off on a morph that does not snap', async () => {
    const spec = { kind: 'morph', prompts: ['a red circle on a white background', 'a blue square on a white background'], frames: 16 } as const;
    const [off, even] = [await walk(spec, 'off'), await walk(spec, 'even')];
    console.log(`# even vs off: x${even.report.smoothness.largestToMedian.toFixed(1)} vs x${off.report.smoothness.largestToMedian.toFixed(1)} the median`);
    assert.ok(even.report.smoothness.largestToMedian < off.report.smoothness.largestToMedian);
    assert.equal(even.report.frameSteps, off.report.frameSteps, 'even renders every frame in full, like off');
    assert.deepEqual([even.report.positions[0], even.report.positions.at(-1)], [0, 1]);
  });
});
