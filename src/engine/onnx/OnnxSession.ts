/**
 * The one place that talks to onnxruntime. A session is opened from a file path (so `model.onnx_data`
 * external data resolves next to it), its input/output metadata is read once, and `run` takes and returns
 * host tensors in float32 / int64 whatever the graph's I/O dtypes are: float16 inputs are converted here,
 * and int32 id inputs are narrowed here, as optimum's ORT wrappers do.
 */
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.ts';
import type { ProviderName } from '../types.ts';
import { float16ToFloat32, float32ToFloat16 } from './float16.ts';

export type IoDataType = 'float32' | 'float16' | 'int64' | 'int32';

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
}

const SUPPORTED: ReadonlySet<string> = new Set(['float32', 'float16', 'int64', 'int32']);

export class OnnxSession {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly label: string;
  readonly provider: ProviderName;
  private readonly session: ort.InferenceSession;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(session: ort.InferenceSession, label: string, provider: ProviderName) {
    this.session = session;
    this.label = label;
    this.provider = provider;
    this.inputs = session.inputMetadata.map((m) => describe(m, label, 'input'));
    this.outputs = session.outputMetadata.map((m) => describe(m, label, 'output'));
  }

  static async open(path: string, options: OpenSessionOptions): Promise<OnnxSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.provider],
      graphOptimizationLevel: 'all',
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, sessionOptions);
    } catch (error) {
      const reason = firstLine(error);
      if (/provider|backend|\.so|dlopen|cuda|webgpu/i.test(reason) && options.provider !== 'cpu') {
        throw new EngineError('PROVIDER_UNAVAILABLE', `execution provider '${options.provider}' could not load ${options.label}/model.onnx: ${reason}`, { cause: error });
      }
      throw new EngineError('PACK_INVALID', `${options.label}/model.onnx could not be loaded by onnxruntime: ${reason}`, { cause: error });
    }
    return new OnnxSession(session, options.label, options.provider);
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

  private async runNow(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, FloatTensor>> {
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

function describe(meta: ort.InferenceSession.ValueMetadata, label: string, kind: 'input' | 'output'): TensorInfo {
  if (!meta.isTensor) throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx ${kind} '${meta.name}' is not a tensor`);
  if (!SUPPORTED.has(meta.type)) {
    throw new EngineError('TENSOR_MISMATCH', `${label}/model.onnx ${kind} '${meta.name}' has dtype ${meta.type}; expected float32, float16, int64 or int32`);
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

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim();
}

export function availableProviders(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
}
