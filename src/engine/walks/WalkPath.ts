/**
 * A walk as a continuous path through conditioning and noise: a position on the path says what a frame is
 * rendered from, whatever the frame count. The guide's walks take frames at evenly spaced positions; the
 * smoothing modes (walks/Refinement.ts) choose their own positions on the same path.
 */
import { slerp, slerpCosine } from './slerp.ts';
import type { FrameConditioning, PromptEmbedding } from './WalkPlan.ts';

export interface WalkPath {
  /** Positions run over [0, length]. */
  readonly length: number;
  /** A loop: position `length` is position 0 again, and the step from the last frame to the first counts. */
  readonly closed: boolean;
  /**
   * Positions every rendering of this path shows exactly as the single render of their conditioning (a
   * morph's two prompts, a chain's prompts), ascending. An open path's first stop is 0 and its last `length`.
   */
  readonly stops: readonly number[];
  at(position: number): FrameConditioning;
}

/**
 * The guide's positions for n frames: evenly spaced, both ends included (a loop leaves out the end, which is its
 * start). A closed path through several stops (a chain) splits the frames between its legs instead, so that every
 * stop is a frame: see legPositions.
 */
export function evenPositions(path: Pick<WalkPath, 'length' | 'closed'> & { readonly stops?: readonly number[] }, frames: number): number[] {
  if (path.closed && path.stops && path.stops.length > 1) return legPositions(path.stops, path.length, frames);
  if (path.closed) return Array.from({ length: frames }, (_, i) => (i * path.length) / frames);
  if (frames === 1) return [0];
  return Array.from({ length: frames }, (_, i) => (i * path.length) / (frames - 1));
}

/**
 * `frames` positions on a closed path through `stops` (ascending, the first at 0): each leg, stop to next stop
 * (the last back to the first), gets frames / legs of them, evenly spaced from its stop; the first
 * frames % legs legs get one more. Ascending.
 */
export function legPositions(stops: readonly number[], length: number, frames: number): number[] {
  const legs = stops.length;
  if (frames < legs) throw new RangeError(`a closed path through ${legs} stops needs at least ${legs} frames, got ${frames}`);
  const positions: number[] = [];
  for (let leg = 0; leg < legs; leg++) {
    const count = Math.floor(frames / legs) + (leg < frames % legs ? 1 : 0);
    const start = stops[leg]!;
    const end = leg + 1 < legs ? stops[leg + 1]! : length + stops[0]!;
    for (let j = 0; j < count; j++) positions.push((start + (j / count) * (end - start)) % length);
  }
  return positions;
}

/** One stop of a multi-stop path: a prompt and the noise its frames start from. */
export interface PathStop {
  embedding: PromptEmbedding;
  noise: Float32Array;
}

/**
 * Slerp from stop to stop: position i is stop i, and between stops i and i + 1 context and pooled are
 * slerped (each with its own cosine, as the guide does) and so is the noise unless both stops share it. A
 * morph is the two-stop case; a closed path also slerps from the last stop back to the first.
 */
export function stopsPath(stops: readonly PathStop[], closed = false): WalkPath {
  if (stops.length < 2) throw new RangeError(`a path needs at least 2 stops, got ${stops.length}`);
  const segments = closed ? stops.length : stops.length - 1;
  const cosines = new Map<number, { context: number; pooled: number; noise: number }>();
  const segmentCosines = (s: number) => {
    let c = cosines.get(s);
    if (!c) {
      const a = stops[s]!;
      const b = stops[(s + 1) % stops.length]!;
      c = {
        context: slerpCosine(a.embedding.context, b.embedding.context),
        pooled: slerpCosine(a.embedding.pooled, b.embedding.pooled),
        noise: a.noise === b.noise ? 1 : slerpCosine(a.noise, b.noise),
      };
      cosines.set(s, c);
    }
    return c;
  };
  return {
    length: segments,
    closed,
    stops: stops.map((_, i) => i),
    at: (position) => {
      const p = closed ? ((position % segments) + segments) % segments : Math.min(Math.max(position, 0), segments);
      const s = Math.min(Math.floor(p), segments - 1);
      const t = p - s;
      const a = stops[s]!;
      const b = stops[(s + 1) % stops.length]!;
      const c = segmentCosines(s);
      return {
        context: slerp(t, a.embedding.context, b.embedding.context, c.context),
        pooled: slerp(t, a.embedding.pooled, b.embedding.pooled, c.pooled),
        noise: a.noise === b.noise ? a.noise : slerp(t, a.noise, b.noise, c.noise),
      };
    },
  };
}

/**
 * The guide's walk around one prompt: position u adds u * stepSize to every element of the context (frame k
 * of the guide is position k); fixed noise. Its length is frames - 1 so that the guide's last frame ends it.
 */
export function promptWalkPath(p: PromptEmbedding, frames: number, stepSize: number, noise: Float32Array): WalkPath {
  const length = frames - 1;
  return {
    length,
    closed: false,
    stops: [0],
    at: (u) => {
      const context = new Float32Array(p.context.length);
      const delta = u * stepSize;
      for (let i = 0; i < context.length; i++) context[i] = p.context[i]! + delta;
      return { context, pooled: p.pooled, noise };
    },
  };
}

/**
 * Circular noise walk around one prompt: position u (0 <= u < frames) is the noise x cos(a) + y sin(a),
 * a = 2 pi u / frames. The guide's angles include 2 pi, which repeats frame 0 at the seam; the path is closed
 * instead, so the step from the last frame back to the first is like every other step.
 */
export function loopPath(p: PromptEmbedding, frames: number, x: Float32Array, y: Float32Array): WalkPath {
  return {
    length: frames,
    closed: true,
    stops: [0],
    at: (u) => {
      const a = (2 * Math.PI * u) / frames;
      const c = u === 0 ? 1 : Math.cos(a);
      const s = u === 0 ? 0 : Math.sin(a);
      const noise = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) noise[i] = c * x[i]! + s * y[i]!;
      return { context: p.context, pooled: p.pooled, noise };
    },
  };
}
