import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gaussianNoise } from '../src/engine/sampler/GaussianNoise.ts';
import { SLERP_DOT_THRESHOLD, slerp, slerpCosine, slerpSteps } from '../src/engine/walks/slerp.ts';
import { loopAngles, planWalk, type PromptEmbedding } from '../src/engine/walks/WalkPlan.ts';

const vec = (...v: number[]) => Float32Array.from(v);
function embedding(seed: number): PromptEmbedding {
  return { context: gaussianNoise(seed, 48, 7), pooled: gaussianNoise(seed, 8, 9) };
}

describe('slerp', () => {
  const a = gaussianNoise(1, 64);
  const b = gaussianNoise(2, 64);
  it('t = 0 and t = 1 return the inputs exactly', () => {
    assert.deepEqual(slerp(0, a, b), a);
    assert.deepEqual(slerp(1, a, b), b);
  });
  it('keeps the norm of unit vectors along the arc (not lerp)', () => {
    const u = vec(1, 0);
    const v = vec(0, 1);
    const mid = slerp(0.5, u, v);
    assert.ok(Math.abs(Math.hypot(mid[0]!, mid[1]!) - 1) < 1e-6);
    assert.ok(Math.abs(mid[0]! - Math.SQRT1_2) < 1e-6);
  });
  it('falls back to lerp above the 0.9995 threshold', () => {
    const u = vec(1, 0);
    const v = vec(1, 0.01); // cos = 0.99995
    assert.ok(slerpCosine(u, v) > SLERP_DOT_THRESHOLD);
    const mid = slerp(0.5, u, v);
    assert.ok(Math.abs(mid[1]! - 0.005) < 1e-7);
    assert.ok(Math.abs(mid[0]! - 1) < 1e-7);
    // just below the threshold it is a true slerp
    const w = vec(1, 0.04); // cos ~ 0.9992
    assert.ok(slerpCosine(u, w) < SLERP_DOT_THRESHOLD);
    const s = slerp(0.5, u, w);
    const lerpY = 0.02;
    assert.notEqual(Math.fround(s[1]!), Math.fround(lerpY));
  });
  it('steps are linspace(0, 1, n)', () => {
    assert.deepEqual(slerpSteps(5), [0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('gaussianNoise', () => {
  it('is the same for a seed and different across seeds and streams', () => {
    assert.deepEqual(gaussianNoise(42, 1000), gaussianNoise(42, 1000));
    assert.notDeepEqual(gaussianNoise(42, 1000), gaussianNoise(43, 1000));
    assert.notDeepEqual(gaussianNoise(42, 1000, 0), gaussianNoise(42, 1000, 1));
  });
  it('pins the first values so the noise of a seed never changes silently', () => {
    const first = Array.from(gaussianNoise(42, 4), (v) => Number(v.toFixed(6)));
    assert.deepEqual(first, PINNED_SEED_42);
  });
  it('has mean ~0 and variance ~1', () => {
    const n = gaussianNoise(7, 200_000);
    let sum = 0;
    let sq = 0;
    for (const v of n) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / n.length;
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(sq / n.length - mean * mean - 1) < 0.01);
  });
});

const PINNED_SEED_42 = [-0.139536, 1.128245, 0.104275, 0.543719];

describe('walk plans', () => {
  const A = embedding(1);
  const B = embedding(2);
  const C = embedding(3);
  const D = embedding(4);

  it('morph: frame 0 is A, the last frame is B, noise fixed', () => {
    const plan = planWalk({ spec: { kind: 'morph', prompts: ['a', 'b'], frames: 5 }, embeddings: [A, B], seed: 3, noiseLength: 16 });
    assert.equal(plan.frameCount, 5);
    assert.deepEqual(plan.frame(0).context, A.context);
    assert.deepEqual(plan.frame(0).pooled, A.pooled);
    assert.deepEqual(plan.frame(4).context, B.context);
    assert.deepEqual(plan.frame(4).pooled, B.pooled);
    assert.deepEqual(plan.frame(2).noise, plan.frame(0).noise);
    assert.deepEqual(plan.frame(0).noise, gaussianNoise(3, 16));
  });

  it('grid: corners are p1 top-left, p2 top-right, p3 bottom-left, p4 bottom-right', () => {
    const n = 4;
    const plan = planWalk({ spec: { kind: 'grid', prompts: ['1', '2', '3', '4'], gridSize: n }, embeddings: [A, B, C, D], seed: 3, noiseLength: 16 });
    assert.equal(plan.frameCount, 16);
    assert.deepEqual(plan.frame(0).context, A.context);
    assert.deepEqual(plan.frame(n - 1).context, B.context);
    assert.deepEqual(plan.frame(n * (n - 1)).context, C.context);
    assert.deepEqual(plan.frame(n * n - 1).context, D.context);
    assert.deepEqual(plan.frame(n * n - 1).pooled, D.pooled);
    // fixed noise by default, per-cell noise with varyLatents
    assert.deepEqual(plan.frame(5).noise, plan.frame(0).noise);
    const vary = planWalk({ spec: { kind: 'grid', prompts: ['1', '2', '3', '4'], gridSize: n, varyLatents: true }, embeddings: [A, B, C, D], seed: 3, noiseLength: 16 });
    assert.notDeepEqual(vary.frame(5).noise, vary.frame(0).noise);
  });

  it('grid: the vertical slerp uses one cosine over the whole stacks, as the guide does', () => {
    const n = 3;
    const plan = planWalk({ spec: { kind: 'grid', prompts: ['1', '2', '3', '4'], gridSize: n }, embeddings: [A, B, C, D], seed: 3, noiseLength: 16 });
    const stack = (p: PromptEmbedding, q: PromptEmbedding) => {
      const out = new Float32Array(p.context.length * n);
      const cos = slerpCosine(p.context, q.context);
      for (let j = 0; j < n; j++) out.set(slerp(j / (n - 1), p.context, q.context, cos), j * p.context.length);
      return out;
    };
    const expected = slerp(0.5, stack(A, B), stack(C, D));
    const len = A.context.length;
    for (let j = 0; j < n; j++) {
      const got = plan.frame(n + j).context;
      got.forEach((v, k) => assert.ok(Math.abs(v - expected[j * len + k]!) < 1e-6));
    }
  });

  it('loop: seamless, frame 0 is the plain noise and no frame repeats at the seam', () => {
    const frames = 8;
    const length = 20_000; // long enough that the two noise tensors are nearly orthogonal, as real latents are
    const plan = planWalk({ spec: { kind: 'loop', prompts: ['p'], frames }, embeddings: [A], seed: 5, noiseLength: length });
    assert.deepEqual(plan.frame(0).noise, gaussianNoise(5, length, 0));
    const angles = loopAngles(frames);
    assert.equal(angles.length, frames);
    // equal angular steps, including the one across the seam (last -> 2 pi = first)
    const gaps = angles.map((a, k) => (k + 1 < frames ? angles[k + 1]! : 2 * Math.PI) - a);
    gaps.forEach((g) => assert.ok(Math.abs(g - (2 * Math.PI) / frames) < 1e-12));
    // the step from the last frame back to the first is as large as every other step
    const dist = (p: Float32Array, q: Float32Array) => Math.sqrt(p.reduce((s, v, i) => s + (v - q[i]!) ** 2, 0));
    const steps = Array.from({ length: frames }, (_, k) => dist(plan.frame(k).noise, plan.frame((k + 1) % frames).noise));
    const min = Math.min(...steps);
    const max = Math.max(...steps);
    assert.ok(min > 0, 'no repeated frame');
    assert.ok(max / min < 1.05, `uneven loop steps ${min}..${max}`);
  });

  it('walk: frame k adds k * stepSize to the context and keeps noise and pooled', () => {
    const plan = planWalk({ spec: { kind: 'walk', prompts: ['p'], frames: 4, stepSize: 0.05 }, embeddings: [A], seed: 5, noiseLength: 8 });
    assert.deepEqual(plan.frame(0).context, A.context);
    const f3 = plan.frame(3);
    f3.context.forEach((v, i) => assert.ok(Math.abs(v - (A.context[i]! + 0.15)) < 1e-6));
    assert.deepEqual(f3.pooled, A.pooled);
    assert.deepEqual(f3.noise, plan.frame(0).noise);
  });
});
