/**
 * The smoothing plans without a model: placement, the blend ladder, multi-stop and closed paths, grids, and
 * the smoothness measure. A stand-in renderer turns each node into a flat frame whose value follows the walk
 * (or, for blended nodes, mixes or snaps to its parents' values), so every decision is checkable by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbFrame } from '../src/engine/frames.ts';
import { gaussianNoise } from '../src/engine/sampler/GaussianNoise.ts';
import { GridRefinement } from '../src/engine/walks/GridRefinement.ts';
import {
  BlendLadder,
  PathRefinement,
  allocateInsertions,
  depthLadder,
  snapped,
  type PlannedNode,
  type RefinementPlan,
} from '../src/engine/walks/Refinement.ts';
import { frameChange, measureGrid, measureSequence, median, summarizeSteps } from '../src/engine/walks/Smoothness.ts';
import { evenPositions, loopPath, stopsPath, type WalkPath } from '../src/engine/walks/WalkPath.ts';
import type { PromptEmbedding } from '../src/engine/walks/WalkPlan.ts';

const flat = (value: number): RgbFrame => ({ width: 2, height: 2, data: new Uint8Array(12).fill(Math.max(0, Math.min(255, Math.round(value)))) });
const embedding = (seed: number): PromptEmbedding => ({ context: gaussianNoise(seed, 32, 7), pooled: gaussianNoise(seed, 8, 9) });
/** A path whose conditioning is irrelevant here: only positions matter to the stand-in renderer. */
const line = (length: number, closed = false, stops: number[] = closed ? [0] : [0, length]): WalkPath => ({
  length,
  closed,
  stops,
  at: () => ({ context: new Float32Array(1), pooled: new Float32Array(1), noise: new Float32Array(1) }),
});

/** Runs a plan to the end; `value` gives each node's frame value from its plan entry and the values so far. */
function run(plan: RefinementPlan, value: (node: PlannedNode, values: Map<number, number>) => number): { rounds: PlannedNode[][]; values: Map<number, number> } {
  const values = new Map<number, number>();
  const rounds: PlannedNode[][] = [];
  for (let round = plan.nextRound(); round; round = plan.nextRound()) {
    rounds.push(round);
    for (const node of round) {
      const v = value(node, values);
      values.set(node.index, v);
      plan.complete(node.index, flat(v));
    }
  }
  return { rounds, values };
}

describe('smoothness measure', () => {
  it('measures mean absolute RGB change, largest share and largest / median', () => {
    assert.equal(frameChange(flat(10), flat(40)), 30);
    const s = measureSequence([flat(0), flat(10), flat(20), flat(100)]);
    assert.deepEqual(s.steps, [10, 10, 80]);
    assert.equal(s.total, 100);
    assert.equal(s.largest, 80);
    assert.equal(s.median, 10);
    assert.equal(s.largestShare, 0.8);
    assert.equal(s.largestToMedian, 8);
    assert.equal(median([3, 1, 2, 4]), 2.5);
    assert.equal(summarizeSteps([0, 0, 5]).largestToMedian, Infinity);
  });
  it('counts a loop seam and a grid rows and columns', () => {
    assert.deepEqual(measureSequence([flat(0), flat(10), flat(30)], true).steps, [10, 20, 30]);
    // 2x2: rows (0-10, 20-50), then columns (0-20, 10-50)
    assert.deepEqual(measureGrid([flat(0), flat(10), flat(20), flat(50)], 2).steps, [10, 30, 20, 40]);
  });
});

describe('placement', () => {
  it('gives new frames to the gaps that change most, one part at a time', () => {
    const gaps = [
      { change: 10, span: 1 },
      { change: 40, span: 1 },
      { change: 20, span: 1 },
    ];
    assert.deepEqual(allocateInsertions(gaps, 1, { minSpan: 0 }), [0, 1, 0]);
    // 40 / 2 = 20 ties with 20: the longer part (1/2 vs 1) loses, so the third gap goes next
    assert.deepEqual(allocateInsertions(gaps, 2, { minSpan: 0 }), [0, 1, 1]);
    assert.deepEqual(allocateInsertions(gaps, 4, { minSpan: 0 }), [0, 3, 1]);
    assert.deepEqual(allocateInsertions(gaps, 3, { minSpan: 0, perGap: 1 }), [1, 1, 1]);
    // within 0.5: after 40, only gaps changing at least 20 join the round
    assert.deepEqual(allocateInsertions(gaps, 3, { minSpan: 0, perGap: 1, within: 0.5 }), [0, 1, 1]);
    // a gap whose parts would be too short is passed over while another can take the frame
    assert.deepEqual(allocateInsertions([{ change: 100, span: 0.1 }, { change: 1, span: 1 }], 1, { minSpan: 0.1 }), [0, 1]);
    assert.deepEqual(allocateInsertions([{ change: 100, span: 0.1 }], 1, { minSpan: 0.1 }), [1]);
    // room caps a group of gaps
    const grouped = [
      { change: 50, span: 1, group: 'columns' },
      { change: 40, span: 1, group: 'columns' },
      { change: 10, span: 1, group: 'rows' },
    ];
    assert.deepEqual(allocateInsertions(grouped, 2, { minSpan: 0, perGap: 1, room: new Map([['columns', 1], ['rows', 5]]) }), [1, 0, 1]);
  });

  it('the blend ladder: half the steps, then half of what is left, to the last step', () => {
    assert.deepEqual(depthLadder(20), [10, 15, 18, 19]);
    assert.deepEqual(depthLadder(28), [14, 21, 25, 27]);
    assert.deepEqual(depthLadder(4), [2, 3]);
    assert.deepEqual(depthLadder(1), [0], 'one step: in-between frames start from their neighbours\' mixed noise');
  });

  it('a part that keeps most of its gap has snapped', () => {
    assert.equal(snapped(95, 100, 1), true);
    assert.equal(snapped(60, 100, 1), false);
    assert.equal(snapped(70, 100, 3), true);
    assert.equal(snapped(50, 100, 3), false);
  });

  it('BlendLadder sends the snapped part of a split one rung deeper and keeps the good part where it was', () => {
    const ladder = new BlendLadder(20);
    assert.equal(ladder.stepFor(0, 1), 10);
    ladder.split(0, [2], 1, 100, 10);
    const frames = new Map([[0, flat(0)], [2, flat(2)], [1, flat(100)]]);
    ladder.settle((i) => frames.get(i)!);
    assert.equal(ladder.stepFor(0, 2), 10, 'a part holding 2 of 100 did not snap');
    assert.equal(ladder.stepFor(2, 1), 15, 'the part holding 98 of 100 snapped');
    assert.deepEqual(ladder.keepFrom(15), [15, 18, 19]);
    assert.equal(ladder.deepest(), 15);
  });

  it('BlendLadder: the parts of a split whose frames started deeper than its rung start from that depth', () => {
    // The call budget may start a split's frames at the last rung; they keep no latent above it.
    const ladder = new BlendLadder(20);
    ladder.split(0, [2], 1, 100, 19);
    const frames = new Map([[0, flat(0)], [2, flat(50)], [1, flat(100)]]);
    ladder.settle((i) => frames.get(i)!);
    assert.equal(ladder.stepFor(0, 2), 19);
    assert.equal(ladder.stepFor(2, 1), 19);
  });
});

/** Runs a blend plan and checks that every blended node starts at a step both of its parents kept. */
function assertParentsKeepStart(plan: RefinementPlan, value: (node: PlannedNode, values: Map<number, number>) => number): void {
  const nodes = new Map<number, PlannedNode>();
  run(plan, (n, values) => {
    nodes.set(n.index, n);
    for (const { from } of n.blend?.pairs ?? []) {
      for (const parent of from) assert.ok(nodes.get(parent)!.keepSteps.includes(n.startStep), `node ${n.index} starts at ${n.startStep}, parent ${parent} keeps ${nodes.get(parent)!.keepSteps.join(',')}`);
    }
    return value(n, values);
  });
}

/** Frame values that jump about (seeded), so that splits snap, flow and exhaust the call budget in every order. */
function jumpy(seed: number): () => number {
  let state = seed;
  return () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 255;
}

describe('path refinement', () => {
  // A walk whose whole change happens between 0.4 and 0.6.
  const ramp = (u: number) => 255 * Math.min(1, Math.max(0, (u - 0.4) / 0.2));

  it('even: the ends and a coarse pass in the first batch, every frame from noise, frames gathered where the walk changes', () => {
    const plan = new PathRefinement(line(1), { mode: 'even', frames: 16, steps: 20, batchSize: 4 });
    const { rounds } = run(plan, (n) => ramp(n.position));
    assert.deepEqual(rounds[0]!.map((n) => n.position), [0, 1 / 3, 2 / 3, 1]);
    assert.ok(rounds.every((r) => r.length === 4), 'full batches, as many as the guide\'s walk');
    for (const n of rounds.flat()) {
      assert.equal(n.startStep, 0);
      assert.equal(n.blend, undefined);
      assert.deepEqual(n.keepSteps, []);
    }
    const { frames, positions } = plan.result();
    assert.equal(frames.length, 16);
    assert.ok(positions.filter((p) => p > 0.39 && p < 0.61).length >= 8, `positions ${positions.join(' ')}`);
    const s = measureSequence(frames);
    // evenly spaced frames would leave 12 of 15 steps at 0 and 3 steps of 85
    assert.ok(s.largest <= 45, `largest ${s.largest}`);
  });

  it('blend: in-between frames branch from their two neighbours; a snapping split deepens until it flows', () => {
    const plan = new PathRefinement(line(1), { mode: 'blend', frames: 16, steps: 20, batchSize: 4 });
    // The stand-in sampler: from rung 18 on, a blended frame is its parents' mix; earlier it snaps to the nearer parent.
    const { rounds } = run(plan, (n, values) => {
      if (!n.blend) return n.position === 0 ? 0 : 255;
      const { from, fraction } = n.blend.pairs[0]!;
      const [a, b] = [values.get(from[0])!, values.get(from[1])!];
      return n.startStep >= 18 ? a + fraction * (b - a) : fraction < 0.5 ? a : b;
    });
    const nodes = rounds.flat();
    assert.deepEqual(rounds[0]!.map((n) => [n.startStep, n.keepSteps]), [[0, [10, 15, 18, 19]], [0, [10, 15, 18, 19]]], 'roots keep every rung');
    assert.equal(rounds[1]![0]!.startStep, 10, 'the first split branches at half the steps');
    assert.deepEqual(rounds[1]![0]!.blend!.pairs[0]!.from, [0, 1]);
    assert.ok(nodes.some((n) => n.startStep >= 18), 'snapping splits went deeper');
    for (const round of rounds) {
      const starts = round.map((n) => n.startStep);
      assert.deepEqual(starts, [...starts].sort((p, q) => p - q), 'a round lists its nodes by start step (one batch each)');
    }
    const s = measureSequence(plan.result().frames);
    assert.ok(s.largestShare <= 0.2, `largest share ${s.largestShare}`);
    assert.ok(s.largestToMedian <= 4, `largest / median ${s.largestToMedian}`);
  });

  it('stays within the guide\'s transformer calls whatever the frames do', () => {
    for (const mode of ['even', 'blend'] as const) {
      for (const [frames, batchSize] of [[16, 4], [32, 4], [16, 1], [9, 2]] as const) {
        const plan = new PathRefinement(line(1), { mode, frames, steps: 20, batchSize });
        // Every split snaps and every gap changes alike: the plan's preferred rounds would be single frames at rung 0.
        const { rounds } = run(plan, (n) => (n.position * 1000) % 255);
        const calls = rounds.reduce((sum, round) => {
          const byStart = new Map<number, number>();
          for (const n of round) byStart.set(n.startStep, (byStart.get(n.startStep) ?? 0) + 1);
          return sum + [...byStart].reduce((t, [k, c]) => t + Math.ceil(c / batchSize) * (20 - k), 0);
        }, 0);
        assert.ok(calls <= Math.ceil(frames / batchSize) * 20, `${mode} ${frames} frames, batch ${batchSize}: ${calls} calls`);
        assert.equal(plan.result().frames.length, frames);
      }
    }
  });

  it('blend: every in-between frame starts at a step both its neighbours kept, however the frames come out', () => {
    for (const frames of [6, 8, 9, 16, 32]) {
      for (const batchSize of [1, 2, 4, 8]) {
        for (const closed of [false, true]) {
          const next = jumpy(frames * 31 + batchSize);
          assertParentsKeepStart(new PathRefinement(line(1, closed), { mode: 'blend', frames, steps: 20, batchSize }), () => next());
        }
      }
    }
  });

  it('replays to the same placement from the same frames (what a resumed render relies on)', () => {
    const once = () => {
      const plan = new PathRefinement(line(1), { mode: 'blend', frames: 12, steps: 20, batchSize: 3 });
      run(plan, (n, values) => (n.blend ? values.get(n.blend.pairs[0]!.from[0])! * 0.3 + ramp(n.position) * 0.7 : ramp(n.position)));
      return plan.result();
    };
    assert.deepEqual(once(), once());
  });

  it('a multi-stop path keeps every stop as a frame and refines each leg; a closed one wraps its last gap', () => {
    const stops = [0, 1, 2].map((i) => ({ embedding: embedding(i + 1), noise: gaussianNoise(9, 16) }));
    const open = stopsPath(stops);
    assert.equal(open.length, 2);
    assert.deepEqual(open.at(1).context, stops[1]!.embedding.context, 'position 1 is the middle stop exactly');
    assert.deepEqual(open.at(2).pooled, stops[2]!.embedding.pooled);
    const plan = new PathRefinement(open, { mode: 'blend', frames: 9, steps: 20, batchSize: 2 });
    const { rounds } = run(plan, (n, values) => (n.blend ? (values.get(n.blend.pairs[0]!.from[0])! + values.get(n.blend.pairs[0]!.from[1])!) / 2 : n.position * 100));
    assert.deepEqual(rounds[0]!.map((n) => n.position), [0, 1, 2]);
    assert.equal(plan.result().frames.length, 9);

    const closed = stopsPath(stops, true);
    assert.equal(closed.length, 3);
    assert.deepEqual(closed.at(3).context, stops[0]!.embedding.context, 'a closed path comes back to its first stop');
    const loop = new PathRefinement(closed, { mode: 'even', frames: 6, steps: 20, batchSize: 1 });
    const { rounds: loopRounds } = run(loop, (n) => (n.position > 2 ? 250 : n.position * 10));
    assert.deepEqual(loopRounds[0]!.map((n) => n.position), [0, 1, 2], 'a chain of 3 prompts starts from its prompts, no other keyframes');
    const { positions } = loop.result();
    assert.equal(positions.length, 6);
    assert.ok(positions.filter((p) => p > 2).length >= 2, `the wrap-around gap (2 -> 3 = 0) changes most: ${positions.join(' ')}`);
  });

  it('a loop starts from evenly spaced keyframes at the guide positions, frame 0 among them', () => {
    const x = gaussianNoise(1, 64, 0);
    const path = loopPath(embedding(1), 32, x, gaussianNoise(1, 64, 1));
    assert.deepEqual(path.at(0).noise, x);
    assert.deepEqual(evenPositions(path, 4), [0, 8, 16, 24]);
    const plan = new PathRefinement(path, { mode: 'blend', frames: 32, steps: 20, batchSize: 4 });
    assert.deepEqual(plan.nextRound()!.map((n) => n.position), [0, 32 / 3, 64 / 3]);
  });

  it('refuses more stops than frames', () => {
    const stops = [0, 1, 2, 3].map((i) => ({ embedding: embedding(i + 1), noise: gaussianNoise(9, 16) }));
    assert.throws(() => new PathRefinement(stopsPath(stops), { mode: 'blend', frames: 3, steps: 20, batchSize: 2 }), /4 stops needs at least that many frames/);
  });
});

describe('grid refinement', () => {
  const prompts = [embedding(1), embedding(2), embedding(3), embedding(4)] as const;
  const corner = [0, 100, 150, 250];

  it('corners first, then columns and rows along the edges, then the inner cells from their row and column', () => {
    const size = 4;
    const plan = new GridRefinement(prompts, { mode: 'blend', gridSize: size, steps: 20, batchSize: 4, noise: () => new Float32Array(4) });
    const { rounds } = run(plan, (n, values) => {
      if (!n.blend) return corner[n.index]!;
      const mixes = n.blend.pairs.map((p) => values.get(p.from[0])! * (1 - p.fraction) + values.get(p.from[1])! * p.fraction);
      return mixes.reduce((s, v) => s + v, 0) / mixes.length;
    });
    assert.deepEqual(rounds[0]!.map((n) => n.index), [0, 1, 2, 3]);
    assert.ok(rounds[0]!.every((n) => n.startStep === 0 && !n.blend));
    const inner = rounds.at(-1)!;
    assert.equal(inner.length, (size - 2) ** 2);
    assert.ok(inner.every((n) => n.blend?.pairs.length === 2 && n.keepSteps.length === 0), 'inner cells mix a row pair and a column pair');
    const { cells, columns, rows } = plan.result();
    assert.equal(cells.length, size * size);
    assert.equal(columns.length, size);
    assert.equal(rows.length, size);
    assert.deepEqual([cells[0], cells[size - 1], cells[size * (size - 1)], cells[size * size - 1]].map((c) => c!.data[0]), corner);
    // the conditioning of a corner is its prompt exactly
    const c = plan.conditioning(rounds[0]![3]!);
    assert.deepEqual(c.context, prompts[3].context);
  });

  it('stays within the guide\'s transformer calls', () => {
    for (const mode of ['even', 'blend'] as const) {
      for (const [size, batchSize] of [[4, 4], [6, 4], [5, 1], [3, 2]] as const) {
        const plan = new GridRefinement(prompts, { mode, gridSize: size, steps: 20, batchSize, noise: () => new Float32Array(4) });
        const { rounds } = run(plan, (n) => (n.index * 97) % 255);
        const calls = rounds.reduce((sum, round) => {
          const byStart = new Map<number, number>();
          for (const n of round) byStart.set(n.startStep, (byStart.get(n.startStep) ?? 0) + 1);
          return sum + [...byStart].reduce((t, [k, c]) => t + Math.ceil(c / batchSize) * (20 - k), 0);
        }, 0);
        assert.ok(calls <= Math.ceil((size * size) / batchSize) * 20, `${mode} ${size}x${size}, batch ${batchSize}: ${calls} calls`);
        assert.equal(plan.result().cells.length, size * size);
      }
    }
  });

  it('blend: every cell starts at a step the cells it mixes kept, however the frames come out', () => {
    for (const [size, batchSize] of [[3, 1], [4, 4], [5, 2], [6, 4], [6, 8]] as const) {
      const next = jumpy(size * 31 + batchSize);
      assertParentsKeepStart(new GridRefinement(prompts, { mode: 'blend', gridSize: size, steps: 20, batchSize, noise: () => new Float32Array(4) }), () => next());
    }
  });

  it('a 2x2 grid is its corners', () => {
    const plan = new GridRefinement(prompts, { mode: 'even', gridSize: 2, steps: 20, batchSize: 4, noise: () => new Float32Array(4) });
    const { rounds } = run(plan, (n) => corner[n.index]!);
    assert.equal(rounds.length, 1);
    assert.equal(plan.result().cells.length, 4);
  });
});
