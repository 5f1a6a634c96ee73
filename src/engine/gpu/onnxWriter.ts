/**
 * A minimal ONNX (protobuf) writer for the engine's own small graphs: the guidance + Euler step, the
 * casts that move tensors onto the provider, the latent un-scaling and the RGB packing. onnx-proto is a
 * devDependency (it builds the test packs), so the runtime cannot use it; these graphs need only nodes,
 * tensor-typed inputs/outputs, scalar/list attributes and raw initializers, which is a few dozen lines of
 * protobuf. Field numbers are onnx.proto's (proto2: repeated scalars are written unpacked, which every
 * parser accepts).
 */

/** ONNX TensorProto.DataType values used here. */
export const ElemType = { float32: 1, uint8: 2, int64: 7, float16: 10 } as const;
export type ElemTypeName = keyof typeof ElemType;

export type Dim = number | string;
export type AttrValue = { i: number } | { f: number } | { ints: readonly number[] } | { s: string };

export interface NodeSpec {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs?: Record<string, AttrValue>;
  domain?: string;
}

export interface ValueSpec {
  name: string;
  type: ElemTypeName;
  dims: readonly Dim[];
}

export interface InitializerSpec {
  name: string;
  type: ElemTypeName;
  dims: readonly number[];
  /** Little-endian element bytes (ONNX raw_data). */
  raw: Uint8Array;
}

export interface GraphSpec {
  name: string;
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  nodes: readonly NodeSpec[];
  initializers?: readonly InitializerSpec[];
  /** Default-domain opset; 17 is what the exporters write for SD3 and has every op used here. */
  opset?: number;
}

class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  /** Varint of a non-negative or negative int64 (negatives take 10 bytes, two's complement). */
  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

function writeValueInfo(w: Writer, v: ValueSpec): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ElemType[v.type]);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

function writeNode(w: Writer, n: NodeSpec, index: number): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      if ('f' in value) {
        a.float(2, value.f);
        a.int(20, AttrType.FLOAT);
      } else if ('i' in value) {
        a.int(3, value.i);
        a.int(20, AttrType.INT);
      } else if ('s' in value) {
        a.string(4, value.s);
        a.int(20, AttrType.STRING);
      } else {
        for (const v of value.ints) a.int(8, v);
        a.int(20, AttrType.INTS);
      }
    });
  }
  if (n.domain) w.string(7, n.domain);
}

/** Serialises a graph as an ONNX ModelProto (IR version 8). */
export function encodeModel(spec: GraphSpec): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'latentwalk');
  w.message(7, (g) => {
    spec.nodes.forEach((n, i) => g.message(1, (node) => writeNode(node, n, i)));
    g.string(2, spec.name);
    for (const init of spec.initializers ?? []) {
      g.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, ElemType[init.type]);
        t.string(8, init.name);
        t.bytes(9, init.raw);
      });
    }
    for (const i of spec.inputs) g.message(11, (v) => writeValueInfo(v, i));
    for (const o of spec.outputs) g.message(12, (v) => writeValueInfo(v, o));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, spec.opset ?? 17);
  });
  const domains = new Set(spec.nodes.map((n) => n.domain).filter((d): d is string => !!d));
  for (const d of domains) {
    w.message(8, (o) => {
      o.string(1, d);
      o.int(2, 1);
    });
  }
  return w.finish();
}
