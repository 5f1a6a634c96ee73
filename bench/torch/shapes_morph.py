"""The bundled "shapes" pack in PyTorch, for `npm run bench`: the engine's morph (the guide's walk: slerp of the
prompt embeddings at evenly spaced positions, one noise, CFG, flow-matching Euler, VAE decode) computed by the
training code's modules (tools/train-shapes/models.py) with the weights read from the pack's ONNX files.

    /usr/bin/python3 bench/torch/shapes_morph.py --pack models/shapes --prompts "a red circle" "a blue square" \
        --frames 16 --seed 42 --batch 4 --threads 2 --out frames.bin

Writes the frames as packed RGB bytes (frames x 64 x 64 x 3) to --out and prints one JSON line with the timings
of a warm run (a first, short, untimed run warms everything). Needs Debian's python3-torch and numpy; no
`onnx` package: the ONNX protobuf is read here (initializers only).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

# Idle OpenMP threads sleep instead of spinning: on a shared host spinning threads slow every operator down.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "train-shapes"))

from models import ClipTextEncoder, MMDiT, VaeDecoder, build_conditioning  # noqa: E402
from sampler import engine_noise, flow_match_sigmas  # noqa: E402
from tokenizer import BOS, EOS, ShapesTokenizer  # noqa: E402


# ---------------------------------------------------------------------------------------------
# ONNX initializers without the onnx package: ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto
# (dims 1, data_type 2, float_data 4, name 8, raw_data 9).
def _varint(b, i):
    value, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _fields(b):
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 5:
            value, i = b[i:i + 4], i + 4
        elif wire == 2:
            length, i = _varint(b, i)
            value, i = b[i:i + length], i + length
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        yield number, wire, value


DTYPES = {1: np.float32, 10: np.float16, 7: np.int64, 6: np.int32, 11: np.float64}


def onnx_initializers(path):
    data = memoryview(open(path, "rb").read())
    graph = next(v for f, w, v in _fields(data) if f == 7)
    out = {}
    for f, _, tensor in _fields(graph):
        if f != 5:
            continue
        name, dims, dtype, raw, floats = None, [], 1, None, []
        for g, w, v in _fields(tensor):
            if g == 1:
                if w == 0:
                    dims.append(v)
                else:
                    j = 0
                    while j < len(v):
                        d, j = _varint(v, j)
                        dims.append(d)
            elif g == 2:
                dtype = v
            elif g == 4:
                floats.append(np.frombuffer(bytes(v), dtype=np.float32))
            elif g == 8:
                name = bytes(v).decode()
            elif g == 9:
                raw = bytes(v)
        if dtype not in DTYPES:
            raise ValueError("%s: initializer %s has ONNX dtype %d" % (path, name, dtype))
        arr = np.frombuffer(raw, dtype=DTYPES[dtype]) if raw is not None else np.concatenate(floats).astype(DTYPES[dtype])
        out[name] = arr.reshape(dims).copy()
    return out


def load_weights(module, path, prefix=""):
    """Copies every parameter and persistent buffer of `module` from the ONNX file's initializers (float16 storage
    widened to float32, exactly as the graphs' Cast nodes do)."""
    inits = onnx_initializers(path)
    state = module.state_dict()
    missing = [k for k in state if prefix + k not in inits]
    if missing:
        raise KeyError("%s lacks %s" % (path, ", ".join(missing[:5])))
    module.load_state_dict({k: torch.from_numpy(inits[prefix + k].astype(np.float32)) for k in state})
    return module.eval()


def load_tokenizer(folder):
    """The pack's tokenizer files through the training tokenizer's BPE (vocab.json + merges.txt)."""
    tok = ShapesTokenizer.__new__(ShapesTokenizer)
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        tok.vocab = json.load(f)
    with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
    tok.merges = [tuple(line.split(" ")) for line in lines]
    tok.ranks = {pair: i for i, pair in enumerate(tok.merges)}
    tok.bos_id, tok.eos_id = tok.vocab[BOS], tok.vocab[EOS]
    tok.vocab_size = len(tok.vocab)
    tok._cache = {}
    return tok


def read_json(pack, rel):
    with open(os.path.join(pack, rel)) as f:
        return json.load(f)


class ShapesPack:
    def __init__(self, pack):
        t1, t2 = read_json(pack, "text_encoder/config.json"), read_json(pack, "text_encoder_2/config.json")
        tc, vc = read_json(pack, "transformer/config.json"), read_json(pack, "vae_decoder/config.json")
        self.tok = load_tokenizer(os.path.join(pack, "tokenizer"))
        self.pad2 = 0  # tokenizer_2 pads with "!" (id 0), as the engine reads from its files
        self.enc1 = load_weights(ClipTextEncoder(t1["vocab_size"], t1["hidden_size"], t1["num_hidden_layers"], t1["num_attention_heads"],
                                                 t1["projection_dim"], t1["hidden_act"]), os.path.join(pack, "text_encoder/model.onnx"), "enc.")
        self.enc2 = load_weights(ClipTextEncoder(t2["vocab_size"], t2["hidden_size"], t2["num_hidden_layers"], t2["num_attention_heads"],
                                                 t2["projection_dim"], t2["hidden_act"]), os.path.join(pack, "text_encoder_2/model.onnx"), "enc.")
        heads = tc["num_attention_heads"]
        self.dit = load_weights(MMDiT(tc["in_channels"], tc["sample_size"], heads * tc["attention_head_dim"], tc["num_layers"], heads,
                                      tc["joint_attention_dim"], tc["pooled_projection_dim"], tc["patch_size"], qk_norm=tc.get("qk_norm") is not None),
                                os.path.join(pack, "transformer/model.onnx"), "dit.")
        self.vae = load_weights(VaeDecoder(vc["latent_channels"], tuple(vc["block_out_channels"])), os.path.join(pack, "vae_decoder/model.onnx"))
        self.joint_dim = tc["joint_attention_dim"]
        self.channels, self.size = tc["in_channels"], tc["sample_size"]
        self.scaling, self.shift_factor = vc["scaling_factor"], vc["shift_factor"]
        self.shift = read_json(pack, "scheduler/scheduler_config.json").get("shift", 1.0)

    @torch.no_grad()
    def encode(self, prompts):
        ids1 = torch.tensor([self.tok.encode(p, self.tok.eos_id) for p in prompts], dtype=torch.int64)
        ids2 = torch.tensor([self.tok.encode(p, self.pad2) for p in prompts], dtype=torch.int64)
        return build_conditioning(self.enc1, self.enc2, ids1, ids2, self.joint_dim)


def slerp(t, a, b, threshold=0.9995):
    """The engine's slerp (walks/slerp.ts): one cosine over the whole tensor, lerp above the threshold, in float64."""
    a64, b64 = a.double().flatten(), b.double().flatten()
    denom = math.sqrt(float((a64 * a64).sum())) * math.sqrt(float((b64 * b64).sum()))
    dot = float((a64 * b64).sum()) / denom if denom else 1.0
    if abs(dot) > threshold:
        wa, wb = 1 - t, t
    else:
        theta0 = math.acos(dot)
        wa, wb = math.sin(theta0 - theta0 * t) / math.sin(theta0), math.sin(theta0 * t) / math.sin(theta0)
    return (wa * a.double() + wb * b.double()).float()


@torch.no_grad()
def render_morph(pack, a, b, frames, seed, steps, guidance, batch, negative=""):
    timings = {}
    t0 = time.perf_counter()
    ctx, pooled = pack.encode([a, b, negative])
    timings["textEncodingMs"] = (time.perf_counter() - t0) * 1000
    ts = [i / (frames - 1) for i in range(frames)]
    contexts = [slerp(t, ctx[0], ctx[1]) for t in ts]
    pools = [slerp(t, pooled[0], pooled[1]) for t in ts]
    noise = torch.from_numpy(engine_noise(seed, pack.channels * pack.size * pack.size)).reshape(1, pack.channels, pack.size, pack.size)
    sigmas = flow_match_sigmas(steps, pack.shift)
    denoise, decode, out = 0.0, 0.0, []
    for start in range(0, frames, batch):
        n = min(batch, frames - start)
        t1 = time.perf_counter()
        x = noise.expand(n, -1, -1, -1).clone()
        c = torch.cat([ctx[2:3].expand(n, -1, -1), torch.stack(contexts[start:start + n])])
        p = torch.cat([pooled[2:3].expand(n, -1), torch.stack(pools[start:start + n])])
        for i in range(steps):
            t = (sigmas[i] * 1000).expand(2 * n)
            v = pack.dit(torch.cat([x, x]), c, p, t)
            vu, vc = v[:n], v[n:]
            x = x + (sigmas[i + 1] - sigmas[i]) * (vu + guidance * (vc - vu))
        t2 = time.perf_counter()
        img = pack.vae(x / pack.scaling + pack.shift_factor)
        rgb = torch.floor(torch.clamp((img + 1) / 2, 0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)
        out.append(rgb.numpy())
        t3 = time.perf_counter()
        denoise += (t2 - t1) * 1000
        decode += (t3 - t2) * 1000
    timings["denoisingMs"], timings["decodingMs"] = denoise, decode
    timings["totalMs"] = (time.perf_counter() - t0) * 1000
    return np.concatenate(out), timings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", required=True)
    ap.add_argument("--prompts", nargs=2, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pack = ShapesPack(args.pack)
    load_ms = (time.perf_counter() - t0) * 1000
    # Warm-up: one short morph (2 frames, 1 step) touches every module and allocator path once.
    render_morph(pack, args.prompts[0], args.prompts[1], 2, args.seed, 1, args.guidance, args.batch)
    frames, timings = render_morph(pack, args.prompts[0], args.prompts[1], args.frames, args.seed, args.steps, args.guidance, args.batch)
    frames.tofile(args.out)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "loadMs": load_ms, "timings": timings,
                      "frames": int(frames.shape[0]), "width": int(frames.shape[2]), "height": int(frames.shape[1])}))


if __name__ == "__main__":
    main()
