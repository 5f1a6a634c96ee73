/**
 * The one place that talks to onnxruntime. A session is opened from a file path (so `model.onnx_data`
 * external data resolves next to it) or from bytes (the engine's own small graphs), its input/output
 * metadata is read once, and `run` takes and returns host tensors in float32 / int64 whatever the graph's
 * I/O dtypes are: float16 inputs are converted here, and int32 id inputs are narrowed here, as optimum's
 * ORT wrappers do.
 *
 * The device path (`runDevice`) passes onnxruntime tensors through untouched, so an output of one call can
 * be the input of the next without visiting JavaScript: on webgpu a session opened with `outputsOnDevice`
 * returns GPU buffers (`preferredOutputLocation: 'gpu-buffer'`), which any webgpu session takes as input.
 * onnxruntime-node 1.30 cannot download such a tensor (`getData()` on it aborts the process: its native
 * `download` throws a C++ string), so a device tensor reaches the host only as the input of a session whose
 * outputs are on the CPU. Only WebGPU buffers have a device location in the Node binding: with cuda every
 * output comes back through host memory (still without JavaScript conversions in between).
 */
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.ts';
import type { ProviderName } from '../types.ts';
import { float16ToFloat32, float32ToFloat16 } from './float16.ts';

/** uint8 is for the engine's RGB graph; pack graphs are checked against narrower lists in ModelPack. */
export type IoDataType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8';

export interface TensorInfo {
  readonly name: string;
  readonly type: IoDataType;
  /** Numbers for fixed dims, strings for symbolic ones, [] when the graph leaves the shape unknown. */
  readonly shape: ReadonlyArray<number | string>;
}

export type HostTensor =
  | { readonly type: 'float32'; readonly data: Float32Array; readonly dims: readonly number[] }
  | { readonly type: 'int64'; readonly data: BigInt64Array; readonly dims: readonly number[] };

export interface FloatTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface OpenSessionOptions {
  provider: ProviderName;
  /** Used in error messages: the component folder, e.g. "transformer". */
  label: string;
  intraOpThreads?: number;
  /** Keep outputs on the GPU (webgpu only; ignored elsewhere). Such a session is run with `runDevice`. */
  outputsOnDevice?: boolean;
  /** onnxruntime's log level for this session (0 verbose .. 4 fatal); the engine's own graphs use 3. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** An onnxruntime tensor, on the host or (webgpu) on the GPU. Never call getData() on one whose location is 'gpu-buffer'. */
export type DeviceTensor = ort.Tensor;

const SUPPORTED: ReadonlySet<string> = new Set(['float32', 'float16', 'int64', 'int32', 'uint8']);

export class OnnxSession {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly label: string;
  readonly provider: ProviderName;
  /** Outputs stay on the GPU: read them only through `runDevice` into another session. */
  readonly outputsOnDevice: boolean;
  private readonly session: ort.InferenceSession;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(session: ort.InferenceSession, label: string, provider: ProviderName, outputsOnDevice: boolean) {
    this.session = session;
    this.label = label;
    this.provider = provider;
    this.outputsOnDevice = outputsOnDevice;
    this.inputs = session.inputMetadata.map((m) => describe(m, label, 'input'));
    this.outputs = session.outputMetadata.map((m) => describe(m, label, 'output'));
  }

  /** Opens a model file, or an in-memory graph (`Uint8Array`, the engine's own graphs). */
  static async open(path: string | Uint8Array, options: OpenSessionOptions): Promise<OnnxSession> {
    const onDevice = options.outputsOnDevice === true && options.provider === 'webgpu';
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.provider],
      graphOptimizationLevel: 'all',
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
      ...(onDevice ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
      ...(options.logSeverityLevel !== undefined ? { logSeverityLevel: options.logSeverityLevel } : {}),
    };
    const what = typeof path === 'string' ? `${options.label}/model.onnx` : `the engine's ${options.label} graph`;
    let session: ort.InferenceSession;
    try {
      // Two calls: create() is overloaded on a path or bytes, not on their union.
      session = typeof path === 'string' ? await ort.InferenceSession.create(path, sessionOptions) : await ort.InferenceSession.create(path, sessionOptions);
    } catch (error) {
      const reason = providerFailure(error) ?? firstLine(error);
      if (/provider|backend|\.so|dlopen|cuda|webgpu|adapter/i.test(reason) && options.provider !== 'cpu') {
        throw new EngineError('PROVIDER_UNAVAILABLE', `execution provider '${options.provider}' could not load ${what}: ${reason}`, { cause: error });
      }
      throw new EngineError('PACK_INVALID', `${what} could not be loaded by onnxruntime: ${reason}`, { cause: error });
    }
    return new OnnxSession(session, options.label, options.provider, onDevice);
  }

  input(name: string): TensorInfo | undefined {
    return this.inputs.find((t) => t.name === name);
  }

  output(name: string): TensorInfo | undefined {
    return this.outputs.find((t) => t.name === name);
  }

  /**
   * Runs the graph. Calls on one session are serialised: onnxruntime sessions are not re-entrant on every
   * provider, and one GPU does one thing at a time anyway.
   */
  run(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, FloatTensor>> {
    const next = this.chain.then(() => this.runNow(feeds, outputNames));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs the graph on onnxruntime tensors and returns every output (in the graph's order: onnxruntime-node's
   * IO binding pairs output locations with fetched outputs by position, so fetching a subset could misplace
   * them). The caller owns the returned tensors and disposes them; inputs are not disposed here.
   */
  runDevice(feeds: Record<string, DeviceTensor>): Promise<Record<string, DeviceTensor>> {
    const next = this.chain.then(async () => {
      try {
        return await this.session.run(feeds);
      } catch (error) {
        throw new EngineError('TENSOR_MISMATCH', `${this.label} failed to run: ${firstLine(error)}`, { cause: error });
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async runNow(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, FloatTensor>> {
    if (this.outputsOnDevice) throw new EngineError('TENSOR_MISMATCH', `${this.label}: outputs are on the GPU; run it with runDevice`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      const info = this.input(name);
      if (!info) throw new EngineError('TENSOR_MISMATCH', `${this.label}/model.onnx has no input '${name}'`);
      ortFeeds[name] = toOrtTensor(tensor, info, this.label);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, outputNames as string[]);
    } catch (error) {
      throw new EngineError('TENSOR_MISMATCH', `${this.label}/model.onnx failed to run: ${firstLine(error)}`, { cause: error });
    }
    const out: Record<string, FloatTensor> = {};
    for (const name of outputNames) {
      const value = results[name];
      if (!value) throw new EngineError('TENSOR_MISMATCH', `${this.label}/model.onnx did not return '${name}'`);
      out[name] = { data: toFloat32(value, name, this.label), dims: value.dims.slice() };
      value.dispose();
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.chain;
    await this.session.release();
  }
}

/** A host float32 array as a tensor of a float graph input's dtype (float16 converted here). */
export function hostFloatTensor(type: 'float32' | 'float16', data: Float32Array, dims: readonly number[]): DeviceTensor {
  return type === 'float16' ? new ort.Tensor('float16', float32ToFloat16(data), dims.slice()) : new ort.Tensor('float32', data, dims.slice());
}

/** Bytes of a uint8 tensor that is on the host (the device path's last output). */
export function hostBytes(tensor: DeviceTensor, label: string): Uint8Array {
  if (tensor.location !== 'cpu' || tensor.type !== 'uint8') throw new EngineError('TENSOR_MISMATCH', `${label}: expected host uint8 output, got ${tensor.type} on ${tensor.location}`);
  return tensor.data as Uint8Array;
}

function describe(meta: ort.InferenceSession.ValueMetadata, label: string, kind: 'input' | 'output'): TensorInfo {
  if (!meta.isTensor) throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx ${kind} '${meta.name}' is not a tensor`);
  if (!SUPPORTED.has(meta.type)) {
    throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx ${kind} '${meta.name}' has dtype ${meta.type}; expected float32, float16, int64, int32 or uint8`);
  }
  return { name: meta.name, type: meta.type as IoDataType, shape: meta.shape.slice() };
}

function toOrtTensor(tensor: HostTensor, info: TensorInfo, label: string): ort.Tensor {
  const dims = tensor.dims.slice();
  if (tensor.type === 'int64') {
    if (info.type === 'int64') return new ort.Tensor('int64', tensor.data, dims);
    if (info.type === 'int32') return new ort.Tensor('int32', Int32Array.from(tensor.data, (v) => Number(v)), dims);
  } else {
    if (info.type === 'float32') return new ort.Tensor('float32', tensor.data, dims);
    if (info.type === 'float16') return new ort.Tensor('float16', float32ToFloat16(tensor.data), dims);
  }
  throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx input '${info.name}' is ${info.type}; the engine feeds ${tensor.type === 'int64' ? 'token ids' : 'floats'} there`);
}

function toFloat32(value: ort.Tensor, name: string, label: string): Float32Array {
  if (value.type === 'float32') return (value.data as Float32Array).slice();
  if (value.type === 'float16') {
    const data = value.data as unknown;
    // Newer onnxruntime builds may hand out Float16Array; read its bit pattern either way.
    const bits = data instanceof Uint16Array ? data : new Uint16Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, value.size);
    return float16ToFloat32(bits);
  }
  throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx output '${name}' is ${value.type}; expected float32 or float16`);
}

/**
 * The readable part of onnxruntime's provider start-up failures, which come as one long line with a source
 * path and a C++ lambda signature in front; undefined when the error is something else.
 */
export function providerFailure(error: unknown): string | undefined {
  const text = error instanceof Error ? error.message : String(error);
  const adapter = /Failed to get a WebGPU adapter[^\n]*/.exec(text);
  if (adapter) return `${adapter[0].trim()} (Dawn found no usable Vulkan GPU)`;
  const lib = /Failed to load (?:shared )?library[^\n]*/.exec(text);
  if (lib) return lib[0].trim();
  return undefined;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim();
}

export function availableProviders(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
}
