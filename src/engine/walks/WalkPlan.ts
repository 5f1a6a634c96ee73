import type { WalkSpec } from '../types.ts';
import { gaussianNoise } from '../sampler/GaussianNoise.ts';
import { slerp, slerpCosine, slerpSteps, slerpWeights } from './slerp.ts';

/** A prompt as the transformer sees it: context rows [S, J] flattened, and the pooled vector [P]. */
export interface PromptEmbedding {
  readonly context: Float32Array;
  readonly pooled: Float32Array;
}

/** What one frame is rendered from (the positive branch; the negative prompt is the same for every frame). */
export interface FrameConditioning {
  readonly context: Float32Array;
  readonly pooled: Float32Array;
  readonly noise: Float32Array;
}

export interface WalkPlan {
  readonly frameCount: number;
  /** Conditioning of frame i, built on demand so a long walk never holds every frame's context at once. */
  frame(index: number): FrameConditioning;
}

export interface WalkPlanInput {
  spec: WalkSpec;
  /** One embedding per prompt of the spec, in the spec's order. */
  embeddings: readonly PromptEmbedding[];
  seed: number;
  /** Latent elements per frame (C * h * w). */
  noiseLength: number;
}

/** The guide's default step for a walk around a prompt. */
export const DEFAULT_WALK_STEP_SIZE = 0.01;

export function planWalk(input: WalkPlanInput): WalkPlan {
  const { spec, embeddings, seed, noiseLength } = input;
  if (embeddings.length !== spec.prompts.length) {
    throw new RangeError(`planWalk: ${spec.prompts.length} prompts but ${embeddings.length} embeddings`);
  }
  switch (spec.kind) {
    case 'morph':
      return planMorph(embeddings[0]!, embeddings[1]!, spec.frames, gaussianNoise(seed, noiseLength));
    case 'grid': {
      const fixed = spec.varyLatents ? undefined : gaussianNoise(seed, noiseLength);
      const noiseForCell = (cell: number) => fixed ?? gaussianNoise(seed, noiseLength, cell);
      return planGrid(embeddings as [PromptEmbedding, PromptEmbedding, PromptEmbedding, PromptEmbedding], spec.gridSize, noiseForCell);
    }
    case 'walk':
      return planPromptWalk(embeddings[0]!, spec.frames, spec.stepSize ?? DEFAULT_WALK_STEP_SIZE, gaussianNoise(seed, noiseLength));
    case 'loop':
      return planLoop(embeddings[0]!, spec.frames, gaussianNoise(seed, noiseLength, 0), gaussianNoise(seed, noiseLength, 1));
  }
}

/** Slerp of context and pooled (each with its own cosine) from A to B, t = linspace(0, 1, frames); fixed noise. */
export function planMorph(a: PromptEmbedding, b: PromptEmbedding, frames: number, noise: Float32Array): WalkPlan {
  const ts = slerpSteps(frames);
  const cosContext = slerpCosine(a.context, b.context);
  const cosPooled = slerpCosine(a.pooled, b.pooled);
  return {
    frameCount: frames,
    frame: (i) => ({
      context: slerp(ts[i]!, a.context, b.context, cosContext),
      pooled: slerp(ts[i]!, a.pooled, b.pooled, cosPooled),
      noise,
    }),
  };
}

/**
 * The guide's 4-way grid: slerp 1->2 and 3->4 into two stacks of gridSize, then slerp between the two stacks
 * as whole tensors (one cosine over the stack, exactly as the guide calls slerp on the stacked embeddings).
 * Cell (row i, column j) is frame i * gridSize + j: p1 top-left, p2 top-right, p3 bottom-left, p4 bottom-right.
 */
export function planGrid(
  prompts: readonly [PromptEmbedding, PromptEmbedding, PromptEmbedding, PromptEmbedding],
  gridSize: number,
  noiseForCell: (cell: number) => Float32Array,
): WalkPlan {
  const [p1, p2, p3, p4] = prompts;
  const ts = slerpSteps(gridSize);
  const stack = (a: Float32Array, b: Float32Array): Float32Array => {
    const out = new Float32Array(a.length * gridSize);
    const cos = slerpCosine(a, b);
    for (let j = 0; j < gridSize; j++) slerp(ts[j]!, a, b, cos, out.subarray(j * a.length, (j + 1) * a.length));
    return out;
  };
  const top = { context: stack(p1.context, p2.context), pooled: stack(p1.pooled, p2.pooled) };
  const bottom = { context: stack(p3.context, p4.context), pooled: stack(p3.pooled, p4.pooled) };
  const cosContext = slerpCosine(top.context, bottom.context);
  const cosPooled = slerpCosine(top.pooled, bottom.pooled);
  const contextLength = p1.context.length;
  const pooledLength = p1.pooled.length;
  return {
    frameCount: gridSize * gridSize,
    frame: (index) => {
      const i = Math.floor(index / gridSize);
      const j = index % gridSize;
      const row = (s: Float32Array, length: number) => s.subarray(j * length, (j + 1) * length);
      const [wcTop, wcBottom] = slerpWeights(ts[i]!, cosContext);
      const [wpTop, wpBottom] = slerpWeights(ts[i]!, cosPooled);
      return {
        context: mix(row(top.context, contextLength), row(bottom.context, contextLength), wcTop, wcBottom),
        pooled: mix(row(top.pooled, pooledLength), row(bottom.pooled, pooledLength), wpTop, wpBottom),
        noise: noiseForCell(index),
      };
    },
  };
}

/** Walk around one prompt: frame k adds k * stepSize to every element of the context (the guide's delta); fixed noise. */
export function planPromptWalk(p: PromptEmbedding, frames: number, stepSize: number, noise: Float32Array): WalkPlan {
  return {
    frameCount: frames,
    frame: (k) => {
      const context = new Float32Array(p.context.length);
      const delta = k * stepSize;
      for (let i = 0; i < context.length; i++) context[i] = p.context[i]! + delta;
      return { context, pooled: p.pooled, noise };
    },
  };
}

/**
 * Circular noise walk: noise_k = x cos(a_k) + y sin(a_k) with a_k = 2 pi k / frames, k = 0 .. frames - 1.
 * The guide's angles include 2 pi, which repeats frame 0 at the seam; leaving the endpoint out makes the
 * step from the last frame back to the first the same size as every other step.
 */
export function planLoop(p: PromptEmbedding, frames: number, x: Float32Array, y: Float32Array): WalkPlan {
  return {
    frameCount: frames,
    frame: (k) => {
      const a = (2 * Math.PI * k) / frames;
      const c = k === 0 ? 1 : Math.cos(a);
      const s = k === 0 ? 0 : Math.sin(a);
      return { context: p.context, pooled: p.pooled, noise: mix(x, y, c, s) };
    },
  };
}

export function loopAngles(frames: number): number[] {
  return Array.from({ length: frames }, (_, k) => (2 * Math.PI * k) / frames);
}

function mix(a: Float32Array, b: Float32Array, wa: number, wb: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i]! + wb * b[i]!;
  return out;
}
