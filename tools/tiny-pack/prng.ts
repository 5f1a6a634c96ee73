/**
 * Seeded PRNG for the tiny pack's weights. Uses only integer ops and one multiply per draw, so the
 * bytes are identical on every platform and Node version (no Math.random, no transcendental functions).
 */

/** FNV-1a over a string; mixes a component name into the seed so each component has its own stream. */
function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class Prng {
  private state: number;

  /** `stream` names the component, so adding a component never shifts another one's weights. */
  constructor(seed: number, stream: string) {
    this.state = fnv1a(stream, seed >>> 0);
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [-scale, scale). */
  symmetric(scale: number): number {
    return (this.next() * 2 - 1) * scale;
  }

  /** `count` values uniform in [-scale, scale); for a weight of fan-in n, scale = gain * sqrt(3 / n) keeps unit variance. */
  fill(count: number, scale: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.symmetric(scale);
    return out;
  }
}

/** Uniform init scale giving variance gain^2 / fanIn. */
export function initScale(fanIn: number, gain = 1): number {
  return gain * Math.sqrt(3 / fanIn);
}
