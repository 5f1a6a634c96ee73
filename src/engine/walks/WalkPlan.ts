import type { WalkSpec } from '../types.ts';
import { gaussianNoise } from '../sampler/GaussianNoise.ts';
import { slerp, slerpCosine, slerpSteps, slerpWeights } from './slerp.ts';
import { evenPositions, loopPath, promptWalkPath, stopsPath, type WalkPath } from './WalkPath.ts';

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
  if (spec.kind === 'grid') {
    const fixed = spec.varyLatents ? undefined : gaussianNoise(seed, noiseLength);
    const noiseForCell = (cell: number) => fixed ?? gaussianNoise(seed, noiseLength, cell);
    return planGrid(embeddings as [PromptEmbedding, PromptEmbedding, PromptEmbedding, PromptEmbedding], spec.gridSize, noiseForCell);
  }
  return planPath(walkPath(spec, embeddings, seed, noiseLength), spec.frames);
}

/**
 * The extent of the path a morph, walk, loop or chain follows: a morph runs 0..1, a walk 0..frames-1, a loop round
 * 0..frames, a chain of n prompts round 0..n (prompt i at i).
 */
export function walkExtent(spec: Exclude<WalkSpec, { kind: 'grid' }>): Pick<WalkPath, 'length' | 'closed' | 'stops'> {
  switch (spec.kind) {
    case 'morph':
      return { length: 1, closed: false, stops: [0, 1] };
    case 'walk':
      return { length: spec.frames - 1, closed: false, stops: [0] };
    case 'loop':
      return { length: spec.frames, closed: true, stops: [0] };
    case 'chain':
      return { length: spec.prompts.length, closed: true, stops: spec.prompts.map((_, i) => i) };
  }
}

/** The path a morph, walk, loop or chain follows (the frame count sets a walk's and a loop's length). */
export function walkPath(spec: Exclude<WalkSpec, { kind: 'grid' }>, embeddings: readonly PromptEmbedding[], seed: number, noiseLength: number): WalkPath {
  switch (spec.kind) {
    case 'morph': {
      const noise = gaussianNoise(seed, noiseLength);
      return stopsPath([{ embedding: embeddings[0]!, noise }, { embedding: embeddings[1]!, noise }]);
    }
    case 'walk':
      return promptWalkPath(embeddings[0]!, spec.frames, spec.stepSize ?? DEFAULT_WALK_STEP_SIZE, gaussianNoise(seed, noiseLength));
    case 'loop':
      return loopPath(embeddings[0]!, spec.frames, gaussianNoise(seed, noiseLength, 0), gaussianNoise(seed, noiseLength, 1));
    case 'chain': {
      // One noise for every stop, as a morph's: each leg is a morph, and the last one comes back to the first prompt.
      const noise = gaussianNoise(seed, noiseLength);
      return stopsPath(embeddings.map((embedding) => ({ embedding, noise })), true);
    }
  }
}

/**
 * The guide's walk along a path: `frames` evenly spaced positions, every frame from the path's noise there.
 * A morph's frame i is slerp(i / (frames - 1)) with fixed noise, a walk's frame k adds k * stepSize to the
 * context, a loop's frame k is the noise at angle 2 pi k / frames (no frame repeats at the seam); a chain's
 * frames are split between its legs, each leg evenly spaced from its stop (evenPositions).
 */
export function planPath(path: WalkPath, frames: number): WalkPlan {
  const positions = evenPositions(path, frames);
  return { frameCount: frames, frame: (i) => path.at(positions[i]!) };
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

export function loopAngles(frames: number): number[] {
  return Array.from({ length: frames }, (_, k) => (2 * Math.PI * k) / frames);
}

function mix(a: Float32Array, b: Float32Array, wa: number, wb: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i]! + wb * b[i]!;
  return out;
}
