/**
 * The engine's own small ONNX graphs: everything the sampler does between transformer calls, written as
 * graphs so that it runs where the transformer runs (on the GPU with webgpu) and tensors never visit the host
 * between steps. The latents' state stays float32 across steps (as on the host path: no fp16 rounding of the
 * running sum); only what a pack's graph consumes is cast to its I/O dtype.
 */
import { encodeModel, type GraphSpec, type NodeSpec } from './onnxWriter.ts';

export type FloatIo = 'float32' | 'float16';

const LATENT = ['b', 'c', 'h', 'w'] as const;
const ROWS = ['r', 'c', 'h', 'w'] as const;

function f32Scalar(name: string, value: number) {
  const raw = new Uint8Array(4);
  new DataView(raw.buffer).setFloat32(0, value, true);
  return { name, type: 'float32' as const, dims: [], raw };
}

/**
 * Host float32 conditioning and noise in, provider tensors out: `x` (float32 state), `sample` (x, twice over
 * with guidance: unconditional rows first, as in diffusers), `context` and `pooled` in the graph's I/O dtype.
 * Run once per batch.
 */
export function prepareGraph(io: FloatIo, cfg: boolean): Uint8Array {
  const nodes: NodeSpec[] = [
    { op: 'Identity', inputs: ['x_in'], outputs: ['x'] },
    ...(cfg ? [{ op: 'Concat', inputs: ['x_in', 'x_in'], outputs: ['rows'], attrs: { axis: { i: 0 } } }] : []),
    { op: 'Cast', inputs: [cfg ? 'rows' : 'x_in'], outputs: ['sample'], attrs: { to: { i: io === 'float16' ? 10 : 1 } } },
    { op: 'Cast', inputs: ['context_in'], outputs: ['context'], attrs: { to: { i: io === 'float16' ? 10 : 1 } } },
    { op: 'Cast', inputs: ['pooled_in'], outputs: ['pooled'], attrs: { to: { i: io === 'float16' ? 10 : 1 } } },
  ];
  return encodeModel({
    name: 'latentwalk_prepare',
    inputs: [
      { name: 'x_in', type: 'float32', dims: LATENT },
      { name: 'context_in', type: 'float32', dims: ['r', 's', 'd'] },
      { name: 'pooled_in', type: 'float32', dims: ['r', 'p'] },
    ],
    outputs: [
      { name: 'x', type: 'float32', dims: LATENT },
      { name: 'sample', type: io, dims: ROWS },
      { name: 'context', type: io, dims: ['r', 's', 'd'] },
      { name: 'pooled', type: io, dims: ['r', 'p'] },
    ],
    nodes,
  });
}

/**
 * One Euler step with classifier-free guidance, in float32 whatever the I/O dtype:
 *   x_next = x + dt * (v_u + g * (v_c - v_u))      (v = [v_u; v_c] along the batch axis)
 * and the next transformer input `sample` = [x_next; x_next] cast to the I/O dtype.
 * Without guidance (cfg = false): x_next = x + dt * v.
 */
export function stepGraph(io: FloatIo, cfg: boolean): Uint8Array {
  const cast = (input: string, output: string, to: FloatIo): NodeSpec => ({ op: 'Cast', inputs: [input], outputs: [output], attrs: { to: { i: to === 'float16' ? 10 : 1 } } });
  const nodes: NodeSpec[] = [cast('v', 'v32', 'float32')];
  if (cfg) {
    nodes.push(
      { op: 'Split', inputs: ['v32'], outputs: ['v_u', 'v_c'], attrs: { axis: { i: 0 } } },
      { op: 'Sub', inputs: ['v_c', 'v_u'], outputs: ['diff'] },
      { op: 'Mul', inputs: ['guidance', 'diff'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['v_u', 'scaled'], outputs: ['guided'] },
      { op: 'Mul', inputs: ['dt', 'guided'], outputs: ['delta'] },
      { op: 'Add', inputs: ['x', 'delta'], outputs: ['x_next'] },
      { op: 'Concat', inputs: ['x_next', 'x_next'], outputs: ['rows'], attrs: { axis: { i: 0 } } },
      cast('rows', 'sample', io),
    );
  } else {
    nodes.push({ op: 'Mul', inputs: ['dt', 'v32'], outputs: ['delta'] }, { op: 'Add', inputs: ['x', 'delta'], outputs: ['x_next'] }, cast('x_next', 'sample', io));
  }
  const spec: GraphSpec = {
    name: 'latentwalk_cfg_euler',
    inputs: [
      { name: 'v', type: io, dims: ROWS },
      { name: 'x', type: 'float32', dims: LATENT },
      { name: 'guidance', type: 'float32', dims: [] },
      { name: 'dt', type: 'float32', dims: [] },
    ],
    outputs: [
      { name: 'x_next', type: 'float32', dims: LATENT },
      { name: 'sample', type: io, dims: ROWS },
    ],
    nodes,
  };
  return encodeModel(spec);
}

/** SD3's latent un-scaling before the VAE: z = x / scaling + shift, cast to the decoder's I/O dtype. */
export function unscaleGraph(io: FloatIo): Uint8Array {
  return encodeModel({
    name: 'latentwalk_unscale',
    inputs: [
      { name: 'x', type: 'float32', dims: LATENT },
      { name: 'scaling', type: 'float32', dims: [] },
      { name: 'shift', type: 'float32', dims: [] },
    ],
    outputs: [{ name: 'z', type: io, dims: LATENT }],
    nodes: [
      { op: 'Div', inputs: ['x', 'scaling'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['scaled', 'shift'], outputs: ['z32'] },
      { op: 'Cast', inputs: ['z32'], outputs: ['z'], attrs: { to: { i: io === 'float16' ? 10 : 1 } } },
    ],
  });
}

/**
 * VAE output (NCHW, about [-1, 1]) to packed RGB bytes (NHWC): round(clip((x + 1) / 2, 0, 1) * 255).
 * Downloading bytes instead of floats moves a quarter (fp32) or half (fp16) of the data to the host and
 * skips the per-pixel JavaScript loop. ONNX Round is half-to-even where Math.round is half-up: frames may
 * differ from the host path by 1 in a value that lands exactly on .5.
 */
export function rgbGraph(io: FloatIo): Uint8Array {
  return encodeModel({
    name: 'latentwalk_rgb',
    inputs: [{ name: 'image', type: io, dims: ['n', 3, 'H', 'W'] }],
    outputs: [{ name: 'rgb', type: 'uint8', dims: ['n', 'H', 'W', 3] }],
    initializers: [f32Scalar('one', 1), f32Scalar('two', 2), f32Scalar('zero', 0), f32Scalar('full', 255)],
    nodes: [
      { op: 'Cast', inputs: ['image'], outputs: ['image32'], attrs: { to: { i: 1 } } },
      { op: 'Add', inputs: ['image32', 'one'], outputs: ['shifted'] },
      { op: 'Div', inputs: ['shifted', 'two'], outputs: ['unit'] },
      { op: 'Clip', inputs: ['unit', 'zero', 'one'], outputs: ['clipped'] },
      { op: 'Mul', inputs: ['clipped', 'full'], outputs: ['scaled'] },
      { op: 'Round', inputs: ['scaled'], outputs: ['rounded'] },
      // Transpose before the uint8 Cast: WebGPU has no 8-bit storage, so the Cast runs on the CPU side.
      { op: 'Transpose', inputs: ['rounded'], outputs: ['hwc'], attrs: { perm: { ints: [0, 2, 3, 1] } } },
      { op: 'Cast', inputs: ['hwc'], outputs: ['rgb'], attrs: { to: { i: 2 } } },
    ],
  });
}

/** The float32 latent state as it is: opened with host outputs, it brings a device tensor back to JavaScript. */
export function hostCopyGraph(): Uint8Array {
  return encodeModel({
    name: 'latentwalk_host_copy',
    inputs: [{ name: 'x', type: 'float32', dims: LATENT }],
    outputs: [{ name: 'x_host', type: 'float32', dims: LATENT }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['x_host'] }],
  });
}

/** A one-node graph that any execution provider runs: opening a session on it tells whether the provider initialises. */
export function probeGraph(): Uint8Array {
  return encodeModel({
    name: 'latentwalk_probe',
    inputs: [{ name: 'a', type: 'float32', dims: [1] }],
    outputs: [{ name: 'b', type: 'float32', dims: [1] }],
    nodes: [{ op: 'Add', inputs: ['a', 'a'], outputs: ['b'] }],
  });
}
