/**
 * The engine's small graphs (gpu/graphs.ts) opened as sessions on the pack's provider, lazily and once per
 * variant (I/O dtype x guidance on/off), and released with the pack. On webgpu the step and preparation
 * graphs keep their outputs on the GPU; the RGB graph is the one place where a batch comes back to the host.
 */
import ort from 'onnxruntime-node';
import { OnnxSession, type DeviceTensor } from '../onnx/OnnxSession.ts';
import type { ProviderName } from '../types.ts';
import { hostCopyGraph, prepareGraph, rgbGraph, stepGraph, unscaleGraph, type FloatIo } from './graphs.ts';

export class EngineGraphs {
  private readonly sessions = new Map<string, Promise<OnnxSession>>();

  constructor(
    readonly provider: ProviderName,
    private readonly threads?: number,
  ) {}

  private open(key: string, build: () => Uint8Array, outputsOnDevice: boolean): Promise<OnnxSession> {
    let session = this.sessions.get(key);
    if (!session) {
      session = OnnxSession.open(build(), { provider: this.provider, label: key, outputsOnDevice, logSeverityLevel: 3, ...(this.threads ? { intraOpThreads: this.threads } : {}) });
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  /** Host noise and conditioning -> device state, transformer sample, context and pooled. */
  prepare(io: FloatIo, cfg: boolean): Promise<OnnxSession> {
    return this.open(`prepare-${io}-${cfg ? 'cfg' : 'plain'}`, () => prepareGraph(io, cfg), true);
  }

  /** Guidance + Euler step: (v, x, guidance, dt) -> (x_next, sample). */
  step(io: FloatIo, cfg: boolean): Promise<OnnxSession> {
    return this.open(`cfg-euler-${io}-${cfg ? 'cfg' : 'plain'}`, () => stepGraph(io, cfg), true);
  }

  /** Latents -> VAE input (z / scaling + shift). */
  unscale(io: FloatIo): Promise<OnnxSession> {
    return this.open(`unscale-${io}`, () => unscaleGraph(io), true);
  }

  /** VAE output -> packed RGB bytes, on the host. */
  rgb(io: FloatIo): Promise<OnnxSession> {
    return this.open(`rgb-${io}`, () => rgbGraph(io), false);
  }

  /**
   * A copy of a float32 state on the host (latent blending keeps parents' states for later branches). Host
   * tensors are copied directly; a GPU buffer goes through an identity graph whose output is on the host,
   * the one way onnxruntime-node brings one back (see OnnxSession).
   */
  async toHost(x: DeviceTensor): Promise<Float32Array> {
    if (x.location === 'cpu') return (x.data as Float32Array).slice();
    const session = await this.open('host-copy', hostCopyGraph, false);
    const out = await session.runDevice({ x });
    const copy = (out['x_host']!.data as Float32Array).slice();
    for (const tensor of Object.values(out)) tensor.dispose();
    return copy;
  }

  async dispose(): Promise<void> {
    const all = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.dispose() : undefined)));
  }
}

/** A float32 scalar input (guidance, dt, the VAE constants): tiny, so it goes from the host each call. */
export function scalar(value: number): DeviceTensor {
  return new ort.Tensor('float32', Float32Array.of(value), []);
}
