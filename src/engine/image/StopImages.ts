/**
 * A chain's image stops: where each frame of the closed path starts.
 *
 * An image stop's own frame is img2img of its picture, as a morph from an image: it starts at the stop's start
 * step k (from its strength) from (1 - sigma_k) * image latent + sigma_k * noise. Along a leg the start slides
 * with the position t (0 at the leg's first stop, 1 at the next):
 * - image to image: the latents are slerped and the start step goes from one's k to the other's;
 * - image to prompt (or prompt to image): the image's latent, its k scaled by the share of the image, so the
 *   frames towards a prompt-only stop keep less and less of it and that stop starts from pure noise, as it
 *   would in a chain without images (sigma at step 0 is 1: the formula gives the noise itself);
 * - prompt to prompt: pure noise, as any chain.
 * Frames with the same start step are batched together (the runner groups them).
 */
import type { FlowMatchSchedule } from '../sampler/FlowMatchSchedule.ts';
import { slerp, slerpCosine } from '../walks/slerp.ts';

/** One image stop, encoded: its latent and the step its own frame starts at. */
export interface StopStart {
  latent: Float32Array;
  step: number;
}

/** Where one frame starts when an image has a share in it; undefined: from pure noise at step 0. */
export interface FrameImageStart {
  step: number;
  sigma: number;
  latent: Float32Array;
}

export class StopImages {
  private readonly cosines = new Map<number, number>();

  /** `stops`: per chain stop (prompt order), its encoded image or undefined. */
  constructor(
    private readonly stops: readonly (StopStart | undefined)[],
    private readonly schedule: FlowMatchSchedule,
  ) {}

  /** The start of the frame at `position` on the closed path (stop i at i). */
  at(position: number): FrameImageStart | undefined {
    const n = this.stops.length;
    const p = ((position % n) + n) % n;
    const leg = Math.min(Math.floor(p), n - 1);
    const t = p - leg;
    const a = this.stops[leg];
    const b = this.stops[(leg + 1) % n];
    let latent: Float32Array;
    let step: number;
    if (a && b) {
      let cosine = this.cosines.get(leg);
      if (cosine === undefined) this.cosines.set(leg, (cosine = slerpCosine(a.latent, b.latent)));
      latent = t === 0 ? a.latent : slerp(t, a.latent, b.latent, cosine);
      step = Math.round((1 - t) * a.step + t * b.step);
    } else if (a) {
      latent = a.latent;
      step = Math.round((1 - t) * a.step);
    } else if (b) {
      latent = b.latent;
      step = Math.round(t * b.step);
    } else {
      return undefined;
    }
    if (step <= 0) return undefined;
    return { step, sigma: this.schedule.sigmas[step]!, latent };
  }
}
