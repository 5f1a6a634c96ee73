/**
 * Seeded Gaussian noise that is the same on every machine and every Node version we support.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 32-bit integer arithmetic only, seeded through splitmix32 from
 * (seed, stream) so that independent tensors of one render (the two loop circles, per-cell grid noise) never
 * share a sequence. Uniforms in (0, 1] come from the top 24 bits; normals from the Box-Muller transform,
 * both outputs of a pair used in order. V8 computes Math.log/sin/cos with its own fdlibm port, not the
 * platform libm, so the doubles are identical everywhere; the result is rounded to float32.
 */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number, stream = 0) {
    // Mix both halves of a 53-bit seed and the stream id into the splitmix state.
    let st = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x1_0000_0000) | 0, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x165667b1);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st);
      st = next;
      words.push(out);
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in (0, 1]: never 0, so log() in Box-Muller is finite. */
  nextUniform(): number {
    return ((this.nextUint32() >>> 8) + 1) / 16_777_216;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** `length` samples of N(0, 1) as float32, for (seed, stream). */
export function gaussianNoise(seed: number, length: number, stream = 0): Float32Array {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  const rng = new Xoshiro128(seed, stream);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rng.nextUniform()));
    const theta = 2 * Math.PI * rng.nextUniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < length) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}
