/**
 * Denoises a batch of frames with SD3's flow-matching Euler sampler and classifier-free guidance.
 * One transformer call per step carries the unconditional rows first and the conditional rows second
 * (diffusers' order); with guidance <= 1 only the conditional rows run. The Euler update runs in float32
 * on the host whatever the graph's I/O dtype is.
 */
import { throwIfAborted } from '../errors.ts';
import type { ModelPack } from '../pack/ModelPack.ts';
import type { FrameConditioning, PromptEmbedding } from '../walks/WalkPlan.ts';
import type { FlowMatchSchedule } from './FlowMatchSchedule.ts';

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
}

/** Returns the final latents of the batch, [frames, C, h, w] flattened. */
export async function denoiseBatch(input: DenoiseBatchInput): Promise<Float32Array> {
  const { pack, frames, negative, schedule, guidance, latent, signal, onStep } = input;
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

  // The conditioning does not change across steps: build the batched context once.
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
  const sample = new Float32Array(rows * perFrame);
  const timestep = new Float32Array(rows);
  const steps = schedule.timesteps.length;

  for (let step = 0; step < steps; step++) {
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
    // Let lock renewals, progress events and cancellation in this process run between steps.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return x;
}
