/**
 * The smoothing plan of a 4-way grid (see Refinement.ts for a path's). A grid is a product of column
 * positions t (p1 -> p2 along the top, p3 -> p4 along the bottom) and row positions s (p1 -> p3 on the left,
 * p2 -> p4 on the right); every cell is slerp(s, top(t), bottom(t)).
 *
 *   round 0      the four corners, rendered in full: exactly the single renders of the four prompts.
 *   edge rounds  new columns and rows where neighbouring edge cells differ most. A column's gap is scored by
 *                the change along the top and the bottom edge together, a row's by the left and right edge;
 *                a new column adds one top and one bottom cell. `blend`: each branches from its neighbours on
 *                its edge, as a path's in-between frames do.
 *   last round   the inner cells at the placed columns and rows. `blend`: a cell starts from the mix of its
 *                row (the left and right edge cells, slerped at its column) and its column (the top and bottom
 *                edge cells, slerped at its row), at the deepest branch step.
 */
import type { RgbFrame } from '../frames.ts';
import { BlendLadder, CallBudget, allocateInsertions, allocationRules, byStartStep, scoreGaps, type BlendSource, type GapScore, type PlannedNode, type RefinementPlan } from './Refinement.ts';
import { frameChange } from './Smoothness.ts';
import { slerp, slerpCosine } from './slerp.ts';
import type { FrameConditioning, PromptEmbedding } from './WalkPlan.ts';

export interface GridRefinementOptions {
  mode: 'even' | 'blend';
  gridSize: number;
  steps: number;
  batchSize: number;
  /** The first rung of the blend ladder (see Refinement.ts). */
  firstBranch?: number;
  /** The noise a node renders from when it starts at step 0 (corners, and every cell in `even`). */
  noise: (node: number) => Float32Array;
}

type Edge = 'top' | 'bottom' | 'left' | 'right';
type Axis = 'columns' | 'rows';
const AXIS_EDGES: Record<Axis, readonly [Edge, Edge]> = { columns: ['top', 'bottom'], rows: ['left', 'right'] };

interface GridNode {
  node: PlannedNode;
  /** Row position s and column position t. */
  s: number;
  t: number;
  frame?: RgbFrame;
}

export class GridRefinement implements RefinementPlan {
  private readonly nodes: GridNode[] = [];
  /** Per axis: positions and, per edge on that axis, the node at each position (same order). */
  private readonly axes: Record<Axis, { positions: number[]; nodes: Record<string, number[]> }>;
  private readonly ladder: BlendLadder | undefined;
  private readonly budget: CallBudget;
  private innerDone = false;
  private round = 0;

  constructor(
    private readonly prompts: readonly [PromptEmbedding, PromptEmbedding, PromptEmbedding, PromptEmbedding],
    private readonly options: GridRefinementOptions,
  ) {
    this.ladder = options.mode === 'blend' ? new BlendLadder(options.steps, options.firstBranch) : undefined;
    this.budget = new CallBudget(options.gridSize ** 2, options.batchSize, options.steps, this.ladder?.steps.at(-1) ?? 0);
    this.axes = {
      columns: { positions: [0, 1], nodes: { top: [0, 1], bottom: [2, 3] } },
      rows: { positions: [0, 1], nodes: { left: [0, 2], right: [1, 3] } },
    };
  }

  /** Conditioning at row s, column t: slerp(s, top(t), bottom(t)), context and pooled each with their own cosine. */
  conditioning(node: PlannedNode): FrameConditioning {
    const cell = this.nodes[node.index]!;
    const [p1, p2, p3, p4] = this.prompts;
    const part = (key: 'context' | 'pooled') => {
      const top = slerp(cell.t, p1[key], p2[key]);
      const bottom = slerp(cell.t, p3[key], p4[key]);
      return slerp(cell.s, top, bottom, slerpCosine(top, bottom));
    };
    return { context: part('context'), pooled: part('pooled'), noise: this.options.noise(node.index) };
  }

  nextRound(): PlannedNode[] | undefined {
    const g = this.options.gridSize;
    if (this.innerDone) return undefined;
    const missing = this.nodes.find((n) => !n.frame);
    if (missing) throw new Error(`node ${missing.node.index} has no frame yet`);
    const round = this.round++;
    const made: PlannedNode[] = [];
    const add = (s: number, t: number, position: number, startStep: number, keep: boolean, blend?: BlendSource) => {
      const keepSteps = keep ? (this.ladder?.keepFrom(startStep) ?? []) : [];
      const node: PlannedNode = { index: this.nodes.length, round, position, startStep, keepSteps, ...(blend ? { blend } : {}) };
      this.nodes.push({ node, s, t });
      made.push(node);
      return node.index;
    };
    if (round === 0) {
      add(0, 0, 0, 0, true);
      add(0, 1, 1, 0, true);
      add(1, 0, 0, 0, true);
      add(1, 1, 1, 0, true);
      this.budget.spend([0, 0, 0, 0]);
      if (g === 2) this.innerDone = true;
      return made;
    }
    this.ladder?.settle((i) => this.nodes[i]!.frame!);
    const room = new Map<string, number>([
      ['columns', g - this.axes.columns.positions.length],
      ['rows', g - this.axes.rows.positions.length],
    ]);
    if (room.get('columns')! + room.get('rows')! > 0) return byStartStep(this.edgeRound(room, add, made));
    this.innerDone = true;
    return byStartStep(this.innerRound(add, made));
  }

  /** New columns (a top and a bottom cell each) and rows (a left and a right cell) where the edges change most. */
  private edgeRound(room: Map<string, number>, add: (s: number, t: number, position: number, startStep: number, keep: boolean, blend?: BlendSource) => number, made: PlannedNode[]): PlannedNode[] {
    const g = this.options.gridSize;
    const gaps: (GapScore & { axis: Axis; at: number })[] = [];
    for (const axis of ['columns', 'rows'] as const) {
      const { positions, nodes } = this.axes[axis];
      const [e1, e2] = AXIS_EDGES[axis];
      const scored = [e1, e2].map((edge) => scoreGaps(positions.map((p, i) => ({ position: p, frame: this.nodes[nodes[edge]![i]!]!.frame! }))));
      scored[0]!.forEach((gap, i) => gaps.push({ change: gap.change + scored[1]![i]!.change, span: gap.span, group: axis, axis, at: i }));
    }
    // Two cells per new column or row: half a batch of positions.
    const wanted = Math.max(1, Math.floor(this.options.batchSize / 2));
    const rules = { ...allocationRules(this.options.mode, 1 / (g - 1)), room };
    const cheapest = this.ladder?.steps.at(-1) ?? 0;
    const edgeStart = (gap: (typeof gaps)[number], edge: Edge) => {
      const { nodes } = this.axes[gap.axis];
      return this.ladder ? this.ladder.stepFor(nodes[edge]![gap.at]!, nodes[edge]![gap.at + 1]!) : 0;
    };
    // As a path's rounds (Refinement.ts): fuller, then cheaper, until what is left still fits the guide's cost.
    const candidates = [rules, { ...rules, within: 0 }].flatMap((r) => {
      const given = allocateInsertions(gaps, wanted, r);
      return [{ given, startOf: edgeStart }, { given, startOf: () => cheapest }];
    });
    const left = g * g - this.nodes.length;
    const startsOf = (c: (typeof candidates)[number]) => c.given.flatMap((m, k) => AXIS_EDGES[gaps[k]!.axis].flatMap((edge) => Array.from({ length: m }, () => c.startOf(gaps[k]!, edge))));
    const chosen = candidates.find((c) => this.budget.fits(startsOf(c), left - startsOf(c).length)) ?? candidates.at(-1)!;
    this.budget.spend(startsOf(chosen));
    const given = chosen.given;
    const inserts: { axis: Axis; position: number; nodes: Record<string, number> }[] = [];
    gaps.forEach((gap, k) => {
      if (given[k] === 0) return;
      const { positions, nodes } = this.axes[gap.axis];
      for (const edge of AXIS_EDGES[gap.axis]) {
        const [a, b] = [nodes[edge]![gap.at]!, nodes[edge]![gap.at + 1]!];
        const inserted: number[] = [];
        for (let j = 1; j <= given[k]!; j++) {
          const fraction = j / (given[k]! + 1);
          const position = positions[gap.at]! + fraction * gap.span;
          const [s, t] = edgeCell(edge, position);
          const index = this.ladder ? add(s, t, position, chosen.startOf(gap, edge), true, { pairs: [{ from: [a, b], fraction }] }) : add(s, t, position, 0, true);
          inserted.push(index);
          let entry = inserts.find((x) => x.axis === gap.axis && x.position === position);
          if (!entry) inserts.push((entry = { axis: gap.axis, position, nodes: {} }));
          entry.nodes[edge] = index;
        }
        this.ladder?.split(a, inserted, b, frameChangeOf(this.nodes, a, b), chosen.startOf(gap, edge));
      }
    });
    for (const insert of inserts) this.insert(insert.axis, insert.position, insert.nodes);
    return made;
  }

  /** The inner cells, at the columns and rows the edges settled on. */
  private innerRound(add: (s: number, t: number, position: number, startStep: number, keep: boolean, blend?: BlendSource) => number, made: PlannedNode[]): PlannedNode[] {
    const g = this.options.gridSize;
    const cols = this.axes.columns;
    const rows = this.axes.rows;
    const inner = (g - 2) ** 2;
    const deepest = this.ladder?.deepest() ?? 0;
    const start = this.budget.fits(Array.from({ length: inner }, () => deepest), 0) ? deepest : (this.ladder?.steps.at(-1) ?? 0);
    this.budget.spend(Array.from({ length: inner }, () => start));
    for (let i = 1; i < g - 1; i++) {
      for (let j = 1; j < g - 1; j++) {
        const s = rows.positions[i]!;
        const t = cols.positions[j]!;
        const blend: BlendSource | undefined = this.ladder && {
          pairs: [
            { from: [rows.nodes['left']![i]!, rows.nodes['right']![i]!], fraction: t },
            { from: [cols.nodes['top']![j]!, cols.nodes['bottom']![j]!], fraction: s },
          ],
        };
        add(s, t, i * g + j, start, false, blend);
      }
    }
    return made;
  }

  private insert(axis: Axis, position: number, created: Record<string, number>): void {
    const a = this.axes[axis];
    let at = a.positions.findIndex((p) => p > position);
    if (at < 0) at = a.positions.length;
    a.positions.splice(at, 0, position);
    for (const edge of AXIS_EDGES[axis]) a.nodes[edge]!.splice(at, 0, created[edge]!);
  }

  complete(index: number, frame: RgbFrame): void {
    const n = this.nodes[index];
    if (!n) throw new RangeError(`no node ${index}`);
    n.frame = frame;
  }

  /** Cells row-major, with the column and row positions. */
  result(): { cells: RgbFrame[]; columns: number[]; rows: number[] } {
    const g = this.options.gridSize;
    const cols = this.axes.columns;
    const rows = this.axes.rows;
    const inner = new Map<string, number>();
    for (const n of this.nodes) if (n.s > 0 && n.s < 1 && n.t > 0 && n.t < 1) inner.set(`${n.s},${n.t}`, n.node.index);
    const cells: RgbFrame[] = [];
    for (let i = 0; i < g; i++) {
      for (let j = 0; j < g; j++) {
        let index: number;
        if (i === 0) index = cols.nodes['top']![j]!;
        else if (i === g - 1) index = cols.nodes['bottom']![j]!;
        else if (j === 0) index = rows.nodes['left']![i]!;
        else if (j === g - 1) index = rows.nodes['right']![i]!;
        else index = inner.get(`${rows.positions[i]},${cols.positions[j]}`)!;
        cells.push(this.nodes[index]!.frame!);
      }
    }
    return { cells, columns: [...cols.positions], rows: [...rows.positions] };
  }
}

/** The cell an edge node sits in: [row position s, column position t]. */
function edgeCell(edge: Edge, position: number): [number, number] {
  switch (edge) {
    case 'top':
      return [0, position];
    case 'bottom':
      return [1, position];
    case 'left':
      return [position, 0];
    case 'right':
      return [position, 1];
  }
}

function frameChangeOf(nodes: readonly GridNode[], a: number, b: number): number {
  return frameChange(nodes[a]!.frame!, nodes[b]!.frame!);
}
