/**
 * A renderer that does no rendering: each batch waits `batchMs` (honouring the AbortSignal like the engine
 * does) and yields flat-coloured frames. For `npm run bench:queue` (queue overhead without model time), the
 * queue-mechanics tests, and `latentwalk worker --renderer noop` smoke runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RenderAbortedError } from '../engine/errors.ts';
import type { RgbFrame } from '../engine/frames.ts';
import type { RenderOptions, RenderReport, RenderSettings, WalkSpec } from '../engine/types.ts';
import type { EncodeRequest, RenderBackend } from './backend.ts';

export interface NoopBackendOptions {
  /** Time each batch takes. */
  batchMs?: number;
  /** Side of the square frames. */
  size?: number;
  /** Frames per batch when the job does not say. */
  batchSize?: number;
  /** Called before each batch is "rendered"; tests use it to hold or fail a render at a chosen point. */
  beforeBatch?: (info: { spec: WalkSpec; settings: RenderSettings; batch: number; indices: number[] }) => Promise<void> | void;
}

export function createNoopBackend(options: NoopBackendOptions = {}): RenderBackend {
  const size = options.size ?? 8;
  return {
    name: 'noop',
    defaults: { fps: 10, frames: 8, displayScale: 1 },
    async render(spec: WalkSpec, settings: RenderSettings, renderOptions: RenderOptions): Promise<{ frames: RgbFrame[]; report: RenderReport }> {
      const started = Date.now();
      const total = spec.kind === 'grid' ? spec.gridSize * spec.gridSize : spec.frames;
      const perBatch = settings.batchSize ?? options.batchSize ?? 2;
      const frames: RgbFrame[] = [];
      const completed = renderOptions.completedFrames;
      let resumed = 0;
      for (let first = 0, batch = 0; first < total; first += perBatch, batch++) {
        const indices: number[] = [];
        for (let i = first; i < Math.min(total, first + perBatch); i++) {
          const done = completed?.get(i);
          if (done) {
            frames[i] = done;
            resumed++;
          } else indices.push(i);
        }
        if (indices.length === 0) continue;
        throwIfAborted(renderOptions.signal);
        await options.beforeBatch?.({ spec, settings, batch, indices });
        if (options.batchMs) {
          try {
            await sleep(options.batchMs, undefined, renderOptions.signal ? { signal: renderOptions.signal } : {});
          } catch {
            throwIfAborted(renderOptions.signal);
          }
        }
        const made = indices.map((i) => flatFrame(size, i));
        indices.forEach((index, k) => (frames[index] = made[k]!));
        const framesDone = frames.filter(Boolean).length;
        renderOptions.onProgress?.({ stage: 'decode', framesDone, framesTotal: total });
        await renderOptions.onBatch?.({ indices, frames: made });
      }
      return { frames, report: noopReport(spec, settings, total, perBatch, resumed, Date.now() - started) };
    },
    async encode(frames: RgbFrame[], request: EncodeRequest) {
      // Not an image: the first frame's bytes, enough to measure the queue's handling of artifacts.
      const first = frames[0];
      return {
        bytes: first ? first.data.slice() : new Uint8Array(0),
        format: request.format,
        mimeType: 'application/octet-stream',
        extension: 'bin',
        width: first?.width ?? 0,
        height: first?.height ?? 0,
        frameCount: frames.length,
        ...(request.fps !== undefined ? { fps: request.fps } : {}),
        reductions: [],
      };
    },
    composeGrid(cells: RgbFrame[], columns: number, rows: number): RgbFrame {
      const cell = cells[0] ?? flatFrame(size, 0);
      const width = cell.width * columns;
      const height = cell.height * rows;
      const data = new Uint8Array(width * height * 3);
      cells.forEach((frame, index) => {
        const x0 = (index % columns) * cell.width;
        const y0 = Math.floor(index / columns) * cell.height;
        for (let y = 0; y < frame.height; y++) {
          data.set(frame.data.subarray(y * frame.width * 3, (y + 1) * frame.width * 3), ((y0 + y) * width + x0) * 3);
        }
      });
      return { width, height, data };
    },
    async dispose() {},
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RenderAbortedError(signal.reason instanceof Error ? signal.reason.message : signal.reason);
}

function flatFrame(size: number, index: number): RgbFrame {
  const data = new Uint8Array(size * size * 3).fill((index * 37) % 256);
  return { width: size, height: size, data };
}

function noopReport(spec: WalkSpec, settings: RenderSettings, frames: number, batchSize: number, resumedFrames: number, ms: number): RenderReport {
  return {
    kind: spec.kind,
    prompts: [...spec.prompts],
    negative: settings.negative ?? '',
    seed: settings.seed,
    steps: settings.steps ?? 1,
    guidance: settings.guidance ?? 0,
    width: settings.width ?? 8,
    height: settings.height ?? 8,
    frames,
    ...(spec.kind === 'grid' ? { gridSize: spec.gridSize } : {}),
    batchSize,
    provider: 'cpu',
    model: 'noop',
    modelPath: '',
    sigmas: [],
    timesteps: [],
    timings: { textEncodingMs: 0, denoisingMs: ms, decodingMs: 0 },
    truncations: [],
    resumedFrames,
  };
}
