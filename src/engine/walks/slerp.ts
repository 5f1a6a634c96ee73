/**
 * Spherical interpolation as the Keras SD3 guide and stable-diffusion-videos define it: the cosine is taken
 * over the whole tensor, and when the inputs are nearly parallel (|cos| > 0.9995) it falls back to lerp,
 * where slerp's sin(theta) denominator would lose precision.
 */
export const SLERP_DOT_THRESHOLD = 0.9995;

/** Cosine similarity over whole tensors, computed as the references do (products scaled by the norms). */
export function slerpCosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`slerp: length mismatch ${a.length} vs ${b.length}`);
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  const denom = Math.sqrt(na) * Math.sqrt(nb);
  if (denom === 0) return 1; // a zero vector has no direction: lerp
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i]! * b[i]!) / denom;
  return dot;
}

/** Weights (wa, wb) so that slerp(t) = wa * a + wb * b, given the cosine of a and b. */
export function slerpWeights(t: number, cosine: number, threshold = SLERP_DOT_THRESHOLD): [number, number] {
  if (Math.abs(cosine) > threshold) return [1 - t, t];
  const theta0 = Math.acos(cosine);
  const sinTheta0 = Math.sin(theta0);
  const thetaT = theta0 * t;
  return [Math.sin(theta0 - thetaT) / sinTheta0, Math.sin(thetaT) / sinTheta0];
}

/** slerp(t, a, b) into `out` (a new array by default). t = 0 and t = 1 return the inputs exactly. */
export function slerp(t: number, a: Float32Array, b: Float32Array, cosine = slerpCosine(a, b), out = new Float32Array(a.length)): Float32Array {
  const [wa, wb] = slerpWeights(t, cosine);
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i]! + wb * b[i]!;
  return out;
}

/** The guide's `slerp(v1, v2, num)`: num interpolants at t = linspace(0, 1, num). */
export function slerpSteps(num: number): number[] {
  if (num === 1) return [0];
  return Array.from({ length: num }, (_, i) => i / (num - 1));
}
