/**
 * The smoothness table of `npm run bench`: morphs, loops, walks, chains and grids rendered off (the guide's walk),
 * even and blend, with the change between consecutive frames (largest step, median, the largest step's share
 * of all change, largest / median), what each cost (transformer calls and frame-steps) and the artifact's
 * bytes as the bot would post it (morphs and walks as rubber-band GIFs, loops forward, grids as PNG).
 */
import { composeGrid, encodeArtifact, render, type LoadedModel, type SmoothMode, type WalkSpec } from '../src/engine/index.ts';

/** The issue's snapping pairs, five more that differ in shape, colour and background, then one-change pairs. */
export const BENCH_MORPHS: readonly (readonly [string, string])[] = [
  ['a red circle', 'a blue square'],
  ['a big yellow star', 'a small green triangle, top left'],
  ['a purple ring on a black background', 'an orange square on a gray background'],
  ['a red circle on a white background', 'a blue square on a white background'],
  ['a green triangle', 'a yellow ring'],
  ['a white star on a black background', 'a black circle on a white background'],
  ['a small orange circle, bottom right', 'a big purple square, top left'],
  ['a blue ring on a yellow background', 'a red star on a green background'],
  ['a gray square', 'an orange triangle on a blue background'],
  ['a big white ring, top right', 'a small black star, bottom left'],
  ['a red triangle', 'a red square'],
  ['a blue star', 'a yellow star'],
];

export const BENCH_SHAPES = ['a red circle', 'a green star', 'a blue square', 'a yellow triangle', 'a purple ring'] as const;

export const BENCH_GRIDS: readonly (readonly [string, string, string, string])[] = [
  ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'],
  ['a purple ring on a black background', 'an orange square on a gray background', 'a white star', 'a big blue circle, top left'],
];

/** Chains through three to five of the shapes, 8 frames a leg. */
export const BENCH_CHAINS: readonly (readonly string[])[] = [
  ['a red circle', 'a blue square', 'a green triangle', 'a yellow star'],
  ['a purple ring on a black background', 'an orange square on a gray background', 'a white star'],
  ['a red circle', 'a green star', 'a blue square', 'a yellow triangle', 'a purple ring'],
];

const MODES: readonly SmoothMode[] = ['off', 'even', 'blend'];

export interface SmoothnessRow {
  spec: WalkSpec;
  mode: SmoothMode;
  largest: number;
  median: number;
  share: number;
  ratio: number;
  calls: number;
  frameSteps: number;
  bytes: number;
  ms: number;
  /** Loops and chains: the step from the last frame back to the first. */
  seam?: number;
}

function label(spec: WalkSpec): string {
  const short = (p: string) => p.replace(/^an? /, '').replace(/ on an? /g, '/').replace(/ background/g, '');
  if (spec.kind === 'grid') return `grid ${spec.gridSize}x${spec.gridSize} ${spec.prompts.map(short).join(' | ')}`;
  return `${spec.kind} ${spec.frames} ${spec.prompts.map(short).join(' -> ')}`;
}

export async function runSmoothnessBench(model: LoadedModel, options: { log?: (line: string) => void; quick?: boolean } = {}): Promise<SmoothnessRow[]> {
  const log = options.log ?? console.log;
  const d = model.defaults;
  const specs: WalkSpec[] = [
    ...(options.quick ? BENCH_MORPHS.slice(0, 3) : BENCH_MORPHS).map((prompts): WalkSpec => ({ kind: 'morph', prompts: [prompts[0], prompts[1]], frames: 16 })),
    ...(options.quick ? BENCH_SHAPES.slice(0, 2) : BENCH_SHAPES).map((p): WalkSpec => ({ kind: 'loop', prompts: [p], frames: 32 })),
    ...(options.quick ? BENCH_SHAPES.slice(0, 2) : BENCH_SHAPES).map((p): WalkSpec => ({ kind: 'walk', prompts: [p], frames: 32 })),
    ...(options.quick ? BENCH_CHAINS.slice(0, 1) : BENCH_CHAINS).map((prompts): WalkSpec => ({ kind: 'chain', prompts, frames: 8 * prompts.length })),
    ...(options.quick ? [] : BENCH_GRIDS).map((prompts): WalkSpec => ({ kind: 'grid', prompts: [...prompts] as [string, string, string, string], gridSize: 4 })),
  ];
  const rows: SmoothnessRow[] = [];
  log(`${'walk'.padEnd(74)} ${'mode'.padEnd(5)} ${'largest'.padStart(7)} ${'median'.padStart(6)} ${'share'.padStart(5)} ${'x med'.padStart(6)} ${'calls'.padStart(5)} ${'f-steps'.padStart(7)} ${'bytes'.padStart(7)}`);
  for (const spec of specs) {
    for (const mode of MODES) {
      const t0 = performance.now();
      const { frames, report } = await render(model, spec, { seed: 42, smooth: mode });
      const ms = performance.now() - t0;
      const art = await encodeArtifact(spec.kind === 'grid' ? [composeGrid(frames, spec.gridSize, spec.gridSize)] : frames, {
        format: spec.kind === 'grid' ? 'png' : 'gif',
        fps: d.fps,
        rubberBand: spec.kind === 'morph' || spec.kind === 'walk',
        displayScale: d.displayScale,
      });
      const s = report.smoothness;
      const row: SmoothnessRow = { spec, mode, largest: s.largest, median: s.median, share: s.largestShare, ratio: s.largestToMedian, calls: report.transformerCalls, frameSteps: report.frameSteps, bytes: art.bytes.length, ms };
      if (spec.kind === 'loop' || spec.kind === 'chain') row.seam = s.steps.at(-1)!;
      rows.push(row);
      log(
        `${(mode === 'off' ? label(spec) : '').slice(0, 74).padEnd(74)} ${mode.padEnd(5)} ${s.largest.toFixed(1).padStart(7)} ${s.median.toFixed(1).padStart(6)} ${`${(s.largestShare * 100).toFixed(0)}%`.padStart(5)} ${(Number.isFinite(s.largestToMedian) ? s.largestToMedian.toFixed(1) : 'inf').padStart(6)} ${String(report.transformerCalls).padStart(5)} ${String(report.frameSteps).padStart(7)} ${String(art.bytes.length).padStart(7)}`,
      );
    }
  }
  return rows;
}

/** The issue's targets over the table: blend morphs, loops and walks; blend vs off cost and GIF bytes. */
export function summarizeSmoothness(rows: readonly SmoothnessRow[]): string[] {
  const of = (kind: WalkSpec['kind'], mode: SmoothMode) => rows.filter((r) => r.spec.kind === kind && r.mode === mode);
  const worst = (rs: SmoothnessRow[], key: 'share' | 'ratio') => Math.max(...rs.map((r) => r[key]));
  const lines: string[] = [];
  const morphs = of('morph', 'blend');
  if (morphs.length > 0) {
    lines.push(
      `blend morphs (${morphs.length}): worst largest share ${(worst(morphs, 'share') * 100).toFixed(0)}% (target <= 20%), worst largest / median ${worst(morphs, 'ratio').toFixed(1)} (target <= 4); off: ${(worst(of('morph', 'off'), 'share') * 100).toFixed(0)}%, ${worst(of('morph', 'off'), 'ratio').toFixed(1)}`,
    );
  }
  for (const kind of ['loop', 'walk', 'chain'] as const) {
    const rs = of(kind, 'blend');
    if (rs.length === 0) continue;
    const seams = kind === 'walk' ? '' : `; the seam step at most ${Math.max(...rs.map((r) => r.seam! / r.median)).toFixed(1)}x the median, never 0 (min ${Math.min(...rs.map((r) => r.seam!)).toFixed(1)})`;
    lines.push(`blend ${kind}s (${rs.length}): worst largest / median ${worst(rs, 'ratio').toFixed(1)} (target <= 4); off: ${worst(of(kind, 'off'), 'ratio').toFixed(1)}${seams}`);
  }
  for (const kind of ['morph', 'loop', 'walk', 'chain', 'grid'] as const) {
    const blend = of(kind, 'blend');
    const off = of(kind, 'off');
    if (blend.length === 0) continue;
    const pairs = blend.map((b, i) => [b, off[i]!] as const);
    const callRatio = Math.max(...pairs.map(([b, o]) => b.calls / o.calls));
    const byteRatios = pairs.map(([b, o]) => b.bytes / o.bytes);
    lines.push(
      `${kind}: blend / off transformer calls at most ${callRatio.toFixed(2)}, frame-steps at most ${Math.max(...pairs.map(([b, o]) => b.frameSteps / o.frameSteps)).toFixed(2)}; ` +
        `bytes blend / off ${Math.min(...byteRatios).toFixed(2)}..${Math.max(...byteRatios).toFixed(2)} (${byteRatios.filter((r) => r <= 1).length} of ${byteRatios.length} no larger)`,
    );
  }
  return lines;
}
