/**
 * A small graph builder over the `onnx-proto` protobuf classes: enough to write the tiny pack's
 * models (opset 17) with either embedded or external (`model.onnx_data`) initializers.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const OPSET = 17;
/** IR version 8 is what opset 17 exporters (torch.onnx, optimum) write. */
const IR_VERSION = 8;

export const DataType = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
  FLOAT16: 10,
} as const;
export type ElemType = (typeof DataType)[keyof typeof DataType];

/** A dimension: a fixed size or a symbolic (dynamic) name such as `batch_size`. */
export type Dim = number | string;

export type Attr =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string };

type AttrProto = InstanceType<typeof onnx.AttributeProto>;
type TensorProtoInit = ConstructorParameters<typeof onnx.TensorProto>[0] & object;
type NodeProtoInit = ConstructorParameters<typeof onnx.NodeProto>[0] & object;
type ValueInfoInit = ConstructorParameters<typeof onnx.ValueInfoProto>[0] & object;

const AttrType = onnx.AttributeProto.AttributeType;

function attrProto(name: string, value: Attr): AttrProto {
  if ('i' in value) return onnx.AttributeProto.create({ name, type: AttrType.INT, i: value.i });
  if ('f' in value) return onnx.AttributeProto.create({ name, type: AttrType.FLOAT, f: value.f });
  if ('ints' in value) return onnx.AttributeProto.create({ name, type: AttrType.INTS, ints: value.ints });
  if ('floats' in value) return onnx.AttributeProto.create({ name, type: AttrType.FLOATS, floats: value.floats });
  return onnx.AttributeProto.create({ name, type: AttrType.STRING, s: new TextEncoder().encode(value.s) });
}

function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): ValueInfoInit {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Little-endian bytes regardless of host order (ONNX raw_data is little-endian). */
function float32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

interface Initializer {
  name: string;
  dims: number[];
  bytes: Uint8Array;
}

export interface EncodedModel {
  /** The `model.onnx` bytes. */
  model: Uint8Array;
  /** The external data file's bytes, when the model was encoded with `externalData`. */
  data?: Uint8Array;
}

export class GraphBuilder {
  private readonly nodes: NodeProtoInit[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfoInit[] = [];
  private readonly outputs: ValueInfoInit[] = [];
  private counter = 0;

  /**
   * @param name graph name
   * @param fp16Io when true, float graph inputs/outputs are float16 and Cast nodes convert at the edges
   *   (the weights and the maths stay float32), as an fp16-I/O export presents itself to a caller.
   */
  constructor(
    private readonly name: string,
    private readonly fp16Io = false,
  ) {}

  private fresh(hint: string): string {
    this.counter += 1;
    return `/${hint}_${this.counter}`;
  }

  /** An integer graph input (token ids); returns its name. */
  intInput(name: string, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, DataType.INT64, dims));
    return name;
  }

  /** A float graph input; returns the float32 tensor to compute with (a Cast of it in fp16 mode). */
  floatInput(name: string, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, this.fp16Io ? DataType.FLOAT16 : DataType.FLOAT, dims));
    return this.fp16Io ? this.op('Cast', [name], { to: { i: DataType.FLOAT } }) : name;
  }

  /** Exposes float32 tensor `tensor` as graph output `name` (Cast to float16 in fp16 mode). */
  floatOutput(tensor: string, name: string, dims: readonly Dim[]): void {
    if (this.fp16Io) this.node('Cast', [tensor], [name], { to: { i: DataType.FLOAT16 } });
    else this.node('Identity', [tensor], [name]);
    this.outputs.push(valueInfo(name, this.fp16Io ? DataType.FLOAT16 : DataType.FLOAT, dims));
  }

  /** A float32 weight (an initializer); returns its name. */
  weight(name: string, dims: number[], values: Float32Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new Error(`weight ${name}: ${values.length} values for dims [${dims.join(',')}]`);
    this.initializers.push({ name, dims, bytes: float32Bytes(values) });
    return name;
  }

  /** A small int64 constant (axes, shapes) as a Constant node: kept visible to ORT's shape inference even when the weights are external. */
  int64Const(values: readonly number[], dims: number[] = [values.length]): string {
    const out = this.fresh('Constant');
    this.node('Constant', [], [out], {}, {
      t: { dims, dataType: DataType.INT64, rawData: int64Bytes(values) },
    });
    return out;
  }

  floatConst(values: readonly number[], dims: number[] = [values.length]): string {
    const out = this.fresh('Constant');
    this.node('Constant', [], [out], {}, {
      t: { dims, dataType: DataType.FLOAT, rawData: float32Bytes(Float32Array.from(values)) },
    });
    return out;
  }

  /** Adds a node with one fresh output; returns that output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    const out = this.fresh(opType);
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  node(
    opType: string,
    inputs: string[],
    outputs: string[],
    attrs: Record<string, Attr> = {},
    tensorAttrs: Record<string, TensorProtoInit> = {},
  ): void {
    const attribute: AttrProto[] = Object.entries(attrs).map(([k, v]) => attrProto(k, v));
    for (const [k, t] of Object.entries(tensorAttrs)) {
      attribute.push(onnx.AttributeProto.create({ name: k, type: AttrType.TENSOR, t: onnx.TensorProto.create(t) }));
    }
    this.nodes.push({ opType, input: inputs, output: outputs, name: `${opType}_${this.nodes.length}`, attribute });
  }

  // Shorthands for the ops the pack's graphs use most.
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  tanh(a: string): string {
    return this.op('Tanh', [a]);
  }
  silu(a: string): string {
    return this.mul(a, this.op('Sigmoid', [a]));
  }
  unsqueeze(a: string, axes: number[]): string {
    return this.op('Unsqueeze', [a, this.int64Const(axes)]);
  }

  /**
   * Encodes the model. With `externalData`, every initializer's bytes go to one file of that name
   * (offsets in order, each 4-byte aligned), as `onnx.save(..., save_as_external_data=True, all_tensors_to_one_file=True)` does.
   */
  encode(options: { externalData?: string; docString?: string } = {}): EncodedModel {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const initializer = this.initializers.map((init) => {
      const base: TensorProtoInit = { name: init.name, dims: init.dims, dataType: DataType.FLOAT };
      if (!options.externalData) return onnx.TensorProto.create({ ...base, rawData: init.bytes });
      const pad = (4 - (offset % 4)) % 4;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      const entry = onnx.TensorProto.create({
        ...base,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: options.externalData },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(init.bytes.length) },
        ],
      });
      chunks.push(init.bytes);
      offset += init.bytes.length;
      return entry;
    });
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'latentwalk-make-tiny-pack',
      producerVersion: '1',
      docString: options.docString ?? '',
      graph: {
        name: this.name,
        node: this.nodes.map((n) => onnx.NodeProto.create(n)),
        initializer,
        input: this.inputs.map((v) => onnx.ValueInfoProto.create(v)),
        output: this.outputs.map((v) => onnx.ValueInfoProto.create(v)),
      },
    });
    const encoded: EncodedModel = { model: onnx.ModelProto.encode(model).finish() };
    if (options.externalData) {
      const data = new Uint8Array(offset);
      let at = 0;
      for (const c of chunks) {
        data.set(c, at);
        at += c.length;
      }
      encoded.data = data;
    }
    return encoded;
  }
}
