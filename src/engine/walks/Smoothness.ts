/**
 * How smoothly a walk flows: the change between consecutive frames, measured as the mean absolute RGB
 * difference (0..255 over every pixel and channel). A morph that snaps has one step that holds most of the
 * change and a median step near zero; a walk that flows has steps of about the same size.
 */
import type { RgbFrame } from '../frames.ts';

/** Mean absolute difference of two frames' RGB bytes, 0 (identical) to 255. */
export function frameChange(a: RgbFrame, b: RgbFrame): number {
  if (a.width !== b.width || a.height !== b.height) throw new RangeError(`frameChange: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  const x = a.data;
  const y = b.data;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i]! - y[i]!);
  return sum / x.length;
}

export interface Smoothness {
  /** Change of each consecutive pair in walk order (a loop's last entry is the seam back to frame 0; a grid lists its rows' pairs, then its columns'). */
  steps: number[];
  /** Sum of the steps. */
  total: number;
  largest: number;
  median: number;
  /** largest / total: 1 / steps.length when every step is the same, near 1 when the walk snaps once. */
  largestShare: number;
  /** largest / median (Infinity when the median step is 0). */
  largestToMedian: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((p, q) => p - q);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarizeSteps(steps: number[]): Smoothness {
  const total = steps.reduce((s, v) => s + v, 0);
  const largest = steps.reduce((m, v) => Math.max(m, v), 0);
  const mid = median(steps);
  return {
    steps,
    total,
    largest,
    median: mid,
    largestShare: total > 0 ? largest / total : 0,
    largestToMedian: mid > 0 ? largest / mid : largest > 0 ? Infinity : 1,
  };
}

/** Frames in walk order; `closed` counts the seam from the last frame back to the first (loops). */
export function measureSequence(frames: readonly RgbFrame[], closed = false): Smoothness {
  const steps: number[] = [];
  for (let i = 0; i + 1 < frames.length; i++) steps.push(frameChange(frames[i]!, frames[i + 1]!));
  if (closed && frames.length > 2) steps.push(frameChange(frames[frames.length - 1]!, frames[0]!));
  return summarizeSteps(steps);
}

/** A row-major grid of cells: every horizontal pair, then every vertical pair. */
export function measureGrid(cells: readonly RgbFrame[], size: number): Smoothness {
  if (cells.length !== size * size) throw new RangeError(`measureGrid: ${cells.length} cells for a ${size}x${size} grid`);
  const steps: number[] = [];
  for (let i = 0; i < size; i++) for (let j = 0; j + 1 < size; j++) steps.push(frameChange(cells[i * size + j]!, cells[i * size + j + 1]!));
  for (let j = 0; j < size; j++) for (let i = 0; i + 1 < size; i++) steps.push(frameChange(cells[i * size + j]!, cells[(i + 1) * size + j]!));
  return summarizeSteps(steps);
}

/** "largest 12.3 (9% of all change), 2.1x the median 5.8": the CLI's and the bench's wording. */
export function describeSmoothness(s: Smoothness): string {
  const ratio = Number.isFinite(s.largestToMedian) ? `${s.largestToMedian.toFixed(1)}x` : 'inf x';
  return `largest step ${s.largest.toFixed(1)} (${(s.largestShare * 100).toFixed(0)}% of all change), ${ratio} the median ${s.median.toFixed(1)}`;
}
