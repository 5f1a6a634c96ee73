/**
 * Where the frames of a smoothed walk go, and what each one starts from. Pure: the renderer hands back each
 * frame as it is decoded, and the plan decides the next round from the frames it has.
 *
 *   round 0     the roots: the path's stops (a morph's two prompts, a chain's prompts) and, on a loop with
 *               fewer stops than keyframes, evenly spaced keyframes; rendered in full from the path's noise,
 *               exactly as the guide renders those positions.
 *   round 1...  new frames where consecutive frames differ most: every gap between neighbours is scored by
 *               the change between its two frames, and a new frame goes to its middle. A round splits the
 *               gap with the largest change and, up to `batchSize` frames, every other gap that changes at
 *               least half as much, so rounds batch where the change is spread and go one frame at a time
 *               where one gap holds it.
 *
 * `even` renders every new frame in full from its own position's noise (independent trajectories, as the
 * guide's; only the positions change). `blend` is latent blending (lunarring/latentblending): a new frame
 * starts at a branch step from the slerp of its two neighbours' latents at that step, weighted by where it
 * sits between them, and runs only the remaining steps with its own conditioning, so in-between frames share
 * their neighbours' early trajectory. Where a split snaps anyway (the new frame came out as one neighbour's
 * image: the sampler still had the steps to take it back), the two halves branch deeper next time: the
 * branch steps form a short ladder (half the steps, then half of what is left, ...), and at its last rung a
 * frame is little more than its neighbours' latents mixed, which cannot snap. An in-between frame costs
 * steps - branch transformer steps instead of steps, which keeps a blend walk cheaper than the guide's.
 *
 * Node indices are creation order; a checkpoint stores frames by node index, and replaying the plan over the
 * same frames reproduces the same placement, so a resumed render makes the same decisions.
 */
import type { RgbFrame } from '../frames.ts';
import { frameChange } from './Smoothness.ts';
import type { WalkPath } from './WalkPath.ts';
import type { FrameConditioning } from './WalkPlan.ts';

export type SmoothMode = 'off' | 'even' | 'blend';
export const SMOOTH_MODES: readonly SmoothMode[] = ['off', 'even', 'blend'];
export const DEFAULT_SMOOTH_MODE: SmoothMode = 'blend';

/** The first rung of the blend ladder, as a share of the sampler's steps (latentblending's depth_strength). */
export const FIRST_BRANCH = 0.5;
/** Keyframes rendered in full on a closed path (loop), per frame, at least 3: 32 frames -> 3, 64 -> 5. */
export const LOOP_KEYFRAMES_PER_FRAME = 1 / 12;
/**
 * No gap is split below this share of the guide's even spacing while another can take the frame. `even`
 * stops early (a true snap in the sampler would eat every frame); `blend` frames at the last rung vary
 * continuously, so a transition may be resolved much more finely.
 */
export const MIN_SPAN_SHARE: Readonly<Record<'even' | 'blend', number>> = { even: 1 / 8, blend: 1 / 64 };
/** A round takes only gaps that change at least this share of the largest gap. */
export const ROUND_SHARE = 0.5;

export interface RefinementOptions {
  mode: 'even' | 'blend';
  frames: number;
  /** Sampler steps. */
  steps: number;
  /** New frames per round at most (one transformer batch). */
  batchSize: number;
  /** The first rung of the blend ladder (default FIRST_BRANCH). */
  firstBranch?: number;
  /** Closed paths: keyframes rendered in full before any insertion (default frames / 12, at least 3). */
  keyframes?: number;
}

/** Where a blended frame starts: slerp of two nodes' latents at its start step; a grid cell mixes two such pairs. */
export interface BlendSource {
  pairs: ReadonlyArray<{ from: readonly [number, number]; fraction: number }>;
}

export interface PlannedNode {
  /** Creation order: the checkpoint key. */
  readonly index: number;
  readonly round: number;
  readonly position: number;
  /** 0: from the path's noise; else the step the blend starts at. */
  readonly startStep: number;
  readonly blend?: BlendSource;
  /** Steps whose latents this node keeps for later branches (ascending). */
  readonly keepSteps: readonly number[];
}

export interface GapScore {
  change: number;
  span: number;
  /** Which capped group the gap belongs to (see AllocationOptions' `room`). */
  group?: string;
}

/** What the renderer asks of a refinement plan, round by round. */
export interface RefinementPlan {
  /** The next round's nodes, placed from the frames so far (one batch per start step); undefined when done. */
  nextRound(): PlannedNode[] | undefined;
  /** What a node renders from (a blended node's `noise` is replaced by its parents' mix). */
  conditioning(node: PlannedNode): FrameConditioning;
  complete(index: number, frame: RgbFrame): void;
}

export interface AllocationOptions {
  /** Passed over while any other gap can take the frame: parts shorter than this. */
  minSpan: number;
  /** Caps on how many frames each group of gaps takes in all (a grid's columns and rows). */
  room?: ReadonlyMap<string, number>;
  /** Frames one gap takes in one round at most. */
  perGap?: number;
  /** Stop once the best gap left changes less than this share of the first one taken. */
  within?: number;
}

/**
 * Hands up to `count` new frames to gaps, one at a time, each to the gap with the largest change per part
 * (ties: the longer part, then the earlier gap). Returns how many new frames each gap gets.
 */
export function allocateInsertions(gaps: readonly GapScore[], count: number, options: AllocationOptions): number[] {
  const { minSpan, perGap = Infinity, within = 0 } = options;
  const given = gaps.map(() => 0);
  const left = new Map(options.room ?? []);
  const full = (gap: GapScore) => gap.group !== undefined && left.has(gap.group) && left.get(gap.group)! <= 0;
  let first = -1;
  for (let n = 0; n < count; n++) {
    let best = -1;
    for (const strict of [true, false]) {
      for (let g = 0; g < gaps.length; g++) {
        const gap = gaps[g]!;
        const parts = given[g]! + 1;
        if (full(gap) || parts > perGap || (strict && gap.span / (parts + 1) < minSpan)) continue;
        if (best < 0) {
          best = g;
          continue;
        }
        const bParts = given[best]! + 1;
        const score = gap.change / parts;
        const bScore = gaps[best]!.change / bParts;
        if (score > bScore || (score === bScore && gap.span / parts > gaps[best]!.span / bParts)) best = g;
      }
      if (best >= 0) break;
    }
    if (best < 0) break;
    const score = gaps[best]!.change / (given[best]! + 1);
    if (first < 0) first = score;
    else if (score < within * first) break;
    given[best]!++;
    const group = gaps[best]!.group;
    if (group !== undefined && left.has(group)) left.set(group, left.get(group)! - 1);
  }
  return given;
}

/** A mode's allocation rules (see the module comment); `evenSpacing` is the guide's spacing of the frames. */
export function allocationRules(mode: 'even' | 'blend', evenSpacing: number): AllocationOptions {
  return { minSpan: evenSpacing * MIN_SPAN_SHARE[mode], perGap: 1, within: ROUND_SHARE };
}

/**
 * Gaps between consecutive points (in position order): the change between their frames and the span between
 * their positions. With `closedLength`, the last gap wraps from the last point back to the first.
 */
export function scoreGaps(points: ReadonlyArray<{ position: number; frame: RgbFrame }>, closedLength?: number): GapScore[] {
  const count = closedLength !== undefined ? points.length : points.length - 1;
  return Array.from({ length: count }, (_, g) => {
    const a = points[g]!;
    const b = points[(g + 1) % points.length]!;
    const span = g + 1 < points.length ? b.position - a.position : closedLength! - a.position + b.position;
    return { change: frameChange(a.frame, b.frame), span };
  });
}

/**
 * The blend ladder: the branch steps a gap's new frames may start at, from `first` of the steps, each rung
 * half-way from the last to the end (20 steps, 0.5: 10, 15, 18, 19). A few fixed rungs keep what a node must
 * store for later branches small: one latent per rung.
 */
export function depthLadder(steps: number, first = FIRST_BRANCH): number[] {
  const ladder: number[] = [];
  for (let k = Math.min(steps - 1, Math.max(1, Math.round(first * steps))); ; k += Math.ceil((steps - k) / 2)) {
    ladder.push(k);
    if (k >= steps - 1) break;
  }
  return ladder;
}

/**
 * Whether a part of a split gap kept most of the gap's change: its new frames came out as one end's image.
 * With m new frames each part should hold 1 / (m + 1) of it; past half-way to all of it, the part snapped.
 */
export function snapped(partChange: number, gapChange: number, newFrames: number): boolean {
  return partChange > ((1 + 1 / (newFrames + 1)) / 2) * gapChange;
}

/**
 * The rung each gap's new frames start at. A gap not split yet is on rung 0; when a split's frames are in,
 * each of its parts keeps the split's rung, or goes one rung deeper if it snapped.
 */
export class BlendLadder {
  readonly steps: readonly number[];
  private readonly rungs = new Map<string, number>();
  private pending: { chain: number[]; rung: number; change: number }[] = [];

  constructor(samplerSteps: number, first?: number) {
    this.steps = depthLadder(samplerSteps, first);
  }

  /** The branch step of new frames between nodes a and b (in that order along the path). */
  stepFor(a: number, b: number): number {
    return this.steps[this.rungs.get(`${a}:${b}`) ?? 0]!;
  }

  /** What a node that starts at `startStep` keeps: its latent at every rung from there on. */
  keepFrom(startStep: number): number[] {
    return this.steps.filter((k) => k >= startStep);
  }

  /**
   * A gap of `change` between a and b split by `inserted` (in path order), which start at `startStep`; its
   * rung is settled in `settle`. The parts start from the rung the new frames really started at: the call
   * budget may have sent them deeper than the gap's rung, and they keep no latent above it to branch from.
   */
  split(a: number, inserted: readonly number[], b: number, change: number, startStep: number): void {
    const rung = Math.max(this.rungs.get(`${a}:${b}`) ?? 0, this.steps.indexOf(startStep));
    this.pending.push({ chain: [a, ...inserted, b], rung, change });
  }

  /** Gives last round's parts their rungs, now that `frameOf` has their frames. */
  settle(frameOf: (node: number) => RgbFrame): void {
    for (const { chain, rung, change } of this.pending) {
      const parts = chain.length - 1;
      for (let j = 0; j < parts; j++) {
        const part = frameChange(frameOf(chain[j]!), frameOf(chain[j + 1]!));
        const next = snapped(part, change, parts - 1) ? Math.min(rung + 1, this.steps.length - 1) : rung;
        if (next > 0) this.rungs.set(`${chain[j]}:${chain[j + 1]}`, next);
      }
    }
    this.pending = [];
  }

  /** The deepest rung any gap has reached, as a branch step. */
  deepest(): number {
    return this.steps[Math.max(0, ...this.rungs.values())]!;
  }
}

/**
 * Keeps a smoothed walk within the guide's cost: the transformer calls of the `off` walk of the same frame
 * count (consecutive batches of `batchSize`, each running every step). A round that would leave too little
 * for the frames still to come is re-planned fuller (every gap may take frames, several per gap) and, if that
 * is not enough, starts at the last rung: a frame there costs one call.
 */
export class CallBudget {
  readonly total: number;
  private spent = 0;

  constructor(
    frames: number,
    private readonly batchSize: number,
    private readonly steps: number,
    /** The latest step a new frame may start at (the ladder's last rung; 0 when nothing branches). */
    private readonly cheapestStart: number,
  ) {
    this.total = Math.ceil(frames / batchSize) * steps;
  }

  /** What a round costs: per start step, one run of steps - start calls for every batchSize frames. */
  cost(startSteps: readonly number[]): number {
    const counts = new Map<number, number>();
    for (const k of startSteps) counts.set(k, (counts.get(k) ?? 0) + 1);
    let calls = 0;
    for (const [k, n] of counts) calls += Math.ceil(n / this.batchSize) * (this.steps - k);
    return calls;
  }

  /** Whether a round leaves enough for `after` more frames, taken in full batches at the cheapest start. */
  fits(startSteps: readonly number[], after: number): boolean {
    return this.spent + this.cost(startSteps) + Math.ceil(after / this.batchSize) * (this.steps - this.cheapestStart) <= this.total;
  }

  spend(startSteps: readonly number[]): void {
    this.spent += this.cost(startSteps);
  }
}

interface NodeState {
  node: PlannedNode;
  frame?: RgbFrame;
}

/** New frames sorted so that each start step is one run of batches. */
export function byStartStep(nodes: PlannedNode[]): PlannedNode[] {
  return nodes.sort((p, q) => p.startStep - q.startStep || p.index - q.index);
}

/** `count` more positions spread over the largest spans between `taken` ones (the coarse pass). */
export function coarsePositions(path: WalkPath, taken: number[], count: number): number[] {
  const points = [...taken].sort((a, b) => a - b);
  const spans = points.map((p, i) => (i + 1 < points.length ? points[i + 1]! - p : path.closed ? path.length - p + points[0]! : 0));
  const given = allocateInsertions(spans.map((span) => ({ change: span, span })), count, { minSpan: 0 });
  return given.flatMap((m, g) => Array.from({ length: m }, (_, j) => (points[g]! + ((j + 1) / (m + 1)) * spans[g]!) % path.length));
}

export class PathRefinement implements RefinementPlan {
  readonly frameCount: number;
  private readonly ladder: BlendLadder | undefined;
  private readonly budget: CallBudget;
  private readonly nodes: NodeState[] = [];
  private readonly rootPositions: number[];
  private round = 0;

  constructor(
    readonly path: WalkPath,
    readonly options: RefinementOptions,
  ) {
    const { frames, steps } = options;
    this.frameCount = frames;
    const roots = new Set<number>(path.stops);
    if (!path.closed) {
      roots.add(0);
      roots.add(path.length);
    } else {
      // A closed path with enough stops of its own (a chain of prompts) starts from them; a loop from keyframes.
      const k = Math.min(frames, options.keyframes ?? Math.max(3, Math.round(frames * LOOP_KEYFRAMES_PER_FRAME)));
      if (roots.size < k) for (let j = 0; j < k; j++) roots.add((j * path.length) / k);
    }
    if (roots.size > frames) throw new RangeError(`a walk through ${roots.size} stops needs at least that many frames, got ${frames}`);
    // `even` renders every frame in full: the roots' last batch is filled with evenly spaced frames (the
    // coarse pass), so that its batches are as full as the guide's.
    if (options.mode === 'even') {
      const fill = Math.min(frames, Math.ceil(roots.size / options.batchSize) * options.batchSize);
      for (const p of coarsePositions(path, [...roots], fill - roots.size)) roots.add(p);
    }
    this.rootPositions = [...roots].sort((a, b) => a - b);
    this.ladder = options.mode === 'blend' ? new BlendLadder(steps, options.firstBranch) : undefined;
    this.budget = new CallBudget(frames, options.batchSize, steps, this.ladder?.steps.at(-1) ?? 0);
  }

  nextRound(): PlannedNode[] | undefined {
    if (this.nodes.length >= this.frameCount) return undefined;
    const missing = this.nodes.find((n) => !n.frame);
    if (missing) throw new Error(`node ${missing.node.index} has no frame yet`);
    const round = this.round++;
    const made: PlannedNode[] = [];
    const add = (position: number, startStep: number, blend?: BlendSource) => {
      const keepSteps = this.ladder?.keepFrom(startStep) ?? [];
      const node: PlannedNode = { index: this.nodes.length, round, position, startStep, keepSteps, ...(blend ? { blend } : {}) };
      this.nodes.push({ node });
      made.push(node);
      return node.index;
    };
    if (round === 0) {
      for (const p of this.rootPositions) add(p, 0);
      this.budget.spend(made.map((n) => n.startStep));
      return made;
    }
    this.ladder?.settle((i) => this.nodes[i]!.frame!);
    const order = [...this.nodes].sort((a, b) => a.node.position - b.node.position);
    const { length, closed } = this.path;
    const gaps = scoreGaps(
      order.map((n) => ({ position: n.node.position, frame: n.frame! })),
      closed ? length : undefined,
    );
    const ends = (g: number) => [order[g]!.node, order[(g + 1) % order.length]!.node] as const;
    const count = Math.min(this.options.batchSize, this.frameCount - this.nodes.length);
    const rules = allocationRules(this.options.mode, length / (closed ? this.frameCount : this.frameCount - 1));
    const cheapest = this.ladder?.steps.at(-1) ?? 0;
    // The round as the rules want it, then fuller, then cheaper, until the frames after it still fit the budget.
    const candidates = [rules, { ...rules, within: 0 }, { ...rules, within: 0, perGap: Infinity }].flatMap((r) => {
      const given = allocateInsertions(gaps, count, r);
      const startOf = (g: number) => (this.ladder ? this.ladder.stepFor(ends(g)[0].index, ends(g)[1].index) : 0);
      return [{ given, startOf }, { given, startOf: () => cheapest }];
    });
    const startsOf = (c: (typeof candidates)[number]) => c.given.flatMap((m, g) => Array.from({ length: m }, () => c.startOf(g)));
    const sum = (given: number[]) => given.reduce((t, m) => t + m, 0);
    const chosen = candidates.find((c) => this.budget.fits(startsOf(c), this.frameCount - this.nodes.length - sum(c.given))) ?? candidates.at(-1)!;
    this.budget.spend(startsOf(chosen));
    chosen.given.forEach((m, g) => {
      if (m === 0) return;
      const [a, b] = ends(g);
      const startStep = chosen.startOf(g);
      const inserted: number[] = [];
      for (let j = 1; j <= m; j++) {
        const fraction = j / (m + 1);
        let position = a.position + fraction * gaps[g]!.span;
        if (closed && position >= length) position -= length;
        inserted.push(this.ladder ? add(position, startStep, { pairs: [{ from: [a.index, b.index], fraction }] }) : add(position, 0));
      }
      this.ladder?.split(a.index, inserted, b.index, gaps[g]!.change, startStep);
    });
    return byStartStep(made);
  }

  conditioning(node: PlannedNode): FrameConditioning {
    return this.path.at(node.position);
  }

  complete(index: number, frame: RgbFrame): void {
    const state = this.nodes[index];
    if (!state) throw new RangeError(`no node ${index}`);
    state.frame = frame;
  }

  /** The finished walk: frames, positions, start steps and node indices in path order. */
  result(): { frames: RgbFrame[]; positions: number[]; startSteps: number[]; nodes: number[] } {
    const order = [...this.nodes].sort((a, b) => a.node.position - b.node.position);
    return {
      frames: order.map((n) => n.frame!),
      positions: order.map((n) => n.node.position),
      startSteps: order.map((n) => n.node.startStep),
      nodes: order.map((n) => n.node.index),
    };
  }
}
