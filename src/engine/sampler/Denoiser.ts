/**
 * Denoises a batch of frames with SD3's flow-matching Euler sampler and classifier-free guidance.
 * One transformer call per step carries the unconditional rows first and the conditional rows second
 * (diffusers' order); with guidance <= 1 only the conditional rows run. The latents' state is float32
 * whatever the graph's I/O dtype is.
 *
 * Two paths compute the same thing:
 *   host   - the reference: every step's velocity comes back to JavaScript, which converts float16, does the
 *            guidance and the Euler update, and converts the next input again.
 *   device - the noise and the conditioning go to the provider once per batch; each step is the transformer
 *            call plus the engine's guidance + Euler graph (gpu/graphs.ts), whose outputs feed the next call
 *            directly. On webgpu nothing crosses to the host between steps except the timestep and two
 *            scalars going in; on cpu the same graphs run on host tensors (so tests exercise them).
 */
import { throwIfAborted } from '../errors.ts';
import { scalar } from '../gpu/EngineGraphs.ts';
import type { FloatIo } from '../gpu/graphs.ts';
import { hostFloatTensor, type DeviceTensor } from '../onnx/OnnxSession.ts';
import type { ModelPack } from '../pack/ModelPack.ts';
import type { FrameConditioning, PromptEmbedding } from '../walks/WalkPlan.ts';
import type { FlowMatchSchedule } from './FlowMatchSchedule.ts';

export type SamplerPath = 'device' | 'host';

export interface LatentShape {
  channels: number;
  height: number;
  width: number;
}

export interface DenoiseBatchInput {
  pack: ModelPack;
  frames: readonly FrameConditioning[];
  negative: PromptEmbedding;
  schedule: FlowMatchSchedule;
  guidance: number;
  latent: LatentShape;
  signal?: AbortSignal | undefined;
  onStep?: ((step: number, steps: number) => void) | undefined;
  /**
   * The step the frames start at (default 0). Each frame's `noise` is its state at that step: pure noise at 0,
   * or (latent blending) the blend of two neighbours' partially denoised latents at a branch step.
   */
  startStep?: number | undefined;
  /** Steps whose state ([frames, C, h, w], before that step's update; `steps` = the final state) is copied out. */
  keepSteps?: readonly number[] | undefined;
}

/**
 * A batch's final latents, [frames, C, h, w]: a host array (host path) or a float32 tensor where the provider
 * keeps it (device path). decodeLatents consumes either; a device tensor is disposed by it.
 */
export type BatchLatents = { readonly where: 'host'; readonly data: Float32Array } | { readonly where: 'device'; readonly x: DeviceTensor };

export interface DenoisedBatch {
  latents: BatchLatents;
  /** The states asked for in `keepSteps`, by step, on the host. */
  kept: Map<number, Float32Array>;
  /** Transformer calls this batch made (one per step run). */
  transformerCalls: number;
}

export async function denoiseBatch(input: DenoiseBatchInput): Promise<DenoisedBatch> {
  const steps = input.schedule.timesteps.length;
  const start = input.startStep ?? 0;
  if (!Number.isInteger(start) || start < 0 || start >= steps) throw new RangeError(`startStep must be from 0 to ${steps - 1}, got ${start}`);
  for (const k of input.keepSteps ?? []) {
    if (!Number.isInteger(k) || k < start || k > steps) throw new RangeError(`keep step ${k} is outside ${start}..${steps}`);
  }
  if (input.pack.sampler === 'device') return denoiseOnDevice(input, start);
  const kept = new Map<number, Float32Array>();
  const data = await denoiseOnHost(input, start, kept);
  return { latents: { where: 'host', data }, kept, transformerCalls: steps - start };
}

interface BatchInputs {
  b: number;
  rows: number;
  useCfg: boolean;
  seqRows: number;
  pooledLength: number;
  x: Float32Array;
  context: Float32Array;
  pooled: Float32Array;
}

/** The noise and the batched conditioning (negative rows first with guidance), built once per batch. */
function batchInputs({ pack, frames, negative, guidance, latent }: DenoiseBatchInput): BatchInputs {
  const t = pack.transformer;
  const b = frames.length;
  const perFrame = latent.channels * latent.height * latent.width;
  const useCfg = guidance > 1;
  const rows = useCfg ? 2 * b : b;
  const contextLength = frames[0]!.context.length;
  const pooledLength = frames[0]!.pooled.length;
  const seqRows = contextLength / t.contextWidth;

  const x = new Float32Array(b * perFrame);
  frames.forEach((f, i) => x.set(f.noise, i * perFrame));
  const context = new Float32Array(rows * contextLength);
  const pooled = new Float32Array(rows * pooledLength);
  frames.forEach((f, i) => {
    const row = useCfg ? b + i : i;
    context.set(f.context, row * contextLength);
    pooled.set(f.pooled, row * pooledLength);
    if (useCfg) {
      context.set(negative.context, i * contextLength);
      pooled.set(negative.pooled, i * pooledLength);
    }
  });
  return { b, rows, useCfg, seqRows, pooledLength, x, context, pooled };
}

/** Lets lock renewals, progress events and cancellation in this process run between steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function denoiseOnHost(input: DenoiseBatchInput, start: number, kept: Map<number, Float32Array>): Promise<Float32Array> {
  const { pack, schedule, guidance, latent, signal, onStep } = input;
  const keep = new Set(input.keepSteps ?? []);
  const t = pack.transformer;
  const { b, rows, useCfg, seqRows, pooledLength, x, context, pooled } = batchInputs(input);
  const perFrame = latent.channels * latent.height * latent.width;
  const sample = new Float32Array(rows * perFrame);
  const timestep = new Float32Array(rows);
  const steps = schedule.timesteps.length;

  for (let step = start; step < steps; step++) {
    if (keep.has(step)) kept.set(step, x.slice());
    throwIfAborted(signal);
    sample.set(x, 0);
    if (useCfg) sample.set(x, b * perFrame);
    timestep.fill(schedule.timesteps[step]!);
    const out = await t.session.run(
      {
        [t.names.sample]: { type: 'float32', data: sample, dims: [rows, latent.channels, latent.height, latent.width] },
        [t.names.context]: { type: 'float32', data: context, dims: [rows, seqRows, t.contextWidth] },
        [t.names.pooled]: { type: 'float32', data: pooled, dims: [rows, pooledLength] },
        [t.names.timestep]: { type: 'float32', data: timestep, dims: [rows] },
      },
      [t.names.output],
    );
    const v = out[t.names.output]!.data;
    const dt = Math.fround(schedule.sigmas[step + 1]! - schedule.sigmas[step]!);
    if (useCfg) {
      const condOffset = b * perFrame;
      for (let i = 0; i < x.length; i++) {
        const vu = v[i]!;
        x[i] = x[i]! + dt * (vu + guidance * (v[condOffset + i]! - vu));
      }
    } else {
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + dt * v[i]!;
    }
    onStep?.(step + 1, steps);
    await yieldToEventLoop();
  }
  if (keep.has(steps)) kept.set(steps, x.slice());
  return x;
}

async function denoiseOnDevice(input: DenoiseBatchInput, start: number): Promise<DenoisedBatch> {
  const { pack, schedule, guidance, latent, signal, onStep } = input;
  const keep = new Set(input.keepSteps ?? []);
  const kept = new Map<number, Float32Array>();
  const t = pack.transformer;
  const { b, rows, useCfg, seqRows, pooledLength, x: noise, context, pooled } = batchInputs(input);
  const io = t.session.input(t.names.sample)!.type as FloatIo;
  const timestepType = t.session.input(t.names.timestep)!.type as FloatIo;
  const [prepare, step] = await Promise.all([pack.graphs.prepare(io, useCfg), pack.graphs.step(io, useCfg)]);

  const prepared = await prepare.runDevice({
    x_in: hostFloatTensor('float32', noise, [b, latent.channels, latent.height, latent.width]),
    context_in: hostFloatTensor('float32', context, [rows, seqRows, t.contextWidth]),
    pooled_in: hostFloatTensor('float32', pooled, [rows, pooledLength]),
  });
  let x = prepared['x']!;
  let sample = prepared['sample']!;
  const ctx = prepared['context']!;
  const pool = prepared['pooled']!;
  const guidanceTensor = scalar(guidance);
  const steps = schedule.timesteps.length;
  try {
    for (let i = start; i < steps; i++) {
      if (keep.has(i)) kept.set(i, await pack.graphs.toHost(x));
      throwIfAborted(signal);
      const timestep = hostFloatTensor(timestepType, new Float32Array(rows).fill(schedule.timesteps[i]!), [rows]);
      const out = await t.session.runDevice({ [t.names.sample]: sample, [t.names.context]: ctx, [t.names.pooled]: pool, [t.names.timestep]: timestep });
      const v = out[t.names.output]!;
      for (const [name, tensor] of Object.entries(out)) if (name !== t.names.output) tensor.dispose();
      const dt = Math.fround(schedule.sigmas[i + 1]! - schedule.sigmas[i]!);
      let next: Record<string, DeviceTensor>;
      try {
        next = await step.runDevice({ v, x, guidance: guidanceTensor, dt: scalar(dt) });
      } finally {
        v.dispose();
      }
      x.dispose();
      sample.dispose();
      x = next['x_next']!;
      sample = next['sample']!;
      onStep?.(i + 1, steps);
      await yieldToEventLoop();
    }
    throwIfAborted(signal);
    if (keep.has(steps)) kept.set(steps, await pack.graphs.toHost(x));
  } catch (error) {
    x.dispose();
    throw error;
  } finally {
    sample.dispose();
    ctx.dispose();
    pool.dispose();
  }
  return { latents: { where: 'device', x }, kept, transformerCalls: steps - start };
}
