"""Builds random-weight SD3-Medium-architecture models, times them in PyTorch eager, and exports them as an
engine model pack (optimum's SD3 layout and I/O names) for bench/gpu/engine-bench.ts.

    python3 bench/gpu/sd3_bench.py --out /tmp/pack --results bench/gpu/results/torch.json          # GPU host
    python3 bench/gpu/sd3_bench.py --small --device cpu --dtype fp32 --out /tmp/pack --results /tmp/t.json

Timed (PyTorch eager, the same weights the pack holds): one transformer call at batch 2 x frames-per-call
(guidance doubles the rows) at the pack's resolution; and a full morph as the engine renders it: per batch of
frames, `steps` transformer calls with guidance + the Euler update, then the VAE decode and the conversion to
uint8 RGB on the host (text encoding is left out: the engine's tiny CLIPs cost milliseconds). The single call's
inputs are a formula both sides compute (deterministicInputs in engine-bench.ts), and the first output values
are saved with the pack (bench-reference.json) so the engine's result can be compared.

Timing is the protocol engine-bench.ts follows too (TIMING below, recorded in both result files): a wall clock
(time.perf_counter / performance.now) around each call followed by a wait for the device (here
torch.cuda.synchronize; there a 4-value readback), after the same number of untimed warm-up calls, and the
median of the same number of timed calls; the morph: one untimed warm-up batch at one step, then timed whole.

Phases (the GPU host gets the provider over two device calls, so the export can run in the first):
  --phase export   build the models, save the reference output, export the pack
  --phase time     build the same models again (same seed), time them; checks they match the pack's reference
  --phase all      both, in one process (the default)
"""
import argparse
import inspect
import json
import math
import os
import shutil
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sd3_models import MMDiT, AttentionMode, ClipText, VaeDecoder, init_weights  # noqa: E402

T0 = time.time()
EXPORT_NOTES = []
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')} +{time.time() - T0:6.1f}s] sd3_bench: {msg}", flush=True)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True, help="model pack directory to write")
    p.add_argument("--results", required=True, help="JSON file for the PyTorch figures")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    p.add_argument("--attention", default="fused", choices=["fused", "plain"], help="fused: com.microsoft MultiHeadAttention nodes")
    p.add_argument("--small", action="store_true", help="a CPU-sized model of the same layout (smoke test)")
    p.add_argument("--blocks", type=int, default=24)
    p.add_argument("--hidden", type=int, default=1536)
    p.add_argument("--heads", type=int, default=24)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--size", type=int, default=512, help="image size; latent = size / 8")
    p.add_argument("--vae", default="128,256,512,512", help="VAE block_out_channels")
    p.add_argument("--groups", type=int, default=32)
    p.add_argument("--clip", default="768x2,1280x2", help="CLIP-L,CLIP-G as WIDTHxLAYERS (pooled = sum of widths)")
    p.add_argument("--frames-per-call", type=int, default=4)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=28)
    p.add_argument("--iters", type=int, default=10, help="timed calls (median); engine-bench takes the same")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first; engine-bench takes the same")
    p.add_argument("--morph-runs", type=int, default=1, help="timed morphs (median)")
    p.add_argument("--phase", default="all", choices=["all", "export", "time"])
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--budget", type=float, default=200, help="seconds for this script; the morph (timed last) is cut to one batch when its projection does not fit")
    a = p.parse_args()
    if a.small:
        a.blocks, a.hidden, a.heads, a.context, a.size, a.vae, a.groups, a.clip = 1, 64, 2, 128, 128, "16,32,32,32", 8, "32x2,48x2"
    return a


def clip_specs(text):
    out = []
    for part in text.split(","):
        w, l = part.split("x")
        out.append((int(w), int(l)))
    return out


def det(n, a, b, c, dtype, device):
    # the engine computes the same: c * sin(a * i + b) in float64, rounded to float32 (then to fp16)
    i = torch.arange(n, dtype=torch.float64)
    return (c * torch.sin(a * i + b)).float().to(device=device, dtype=dtype)


def deterministic_inputs(rows, channels, latent, seq, context, pooled, dtype, device):
    sample = det(rows * channels * latent * latent, 0.37, 0.1, 0.8, dtype, device).view(rows, channels, latent, latent)
    ctx = det(rows * seq * context, 0.011, 0.0, 0.5, dtype, device).view(rows, seq, context)
    pool = det(rows * pooled, 0.023, 0.3, 0.5, dtype, device).view(rows, pooled)
    t = torch.tensor([1000.0 * (r + 1) / (rows + 1) for r in range(rows)], dtype=dtype, device=device)
    return sample, ctx, pool, t


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# The protocol both sides follow; engine-bench.ts writes the same record, report.py compares them.
TIMING = {"clock": "wall", "syncEachCall": True, "statistic": "median"}


def time_call(fn, device, iters, warmup):
    """Wall time of fn() plus the wait for the device, after `warmup` untimed calls; median of `iters`."""
    for _ in range(warmup):
        fn()
        sync(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t) * 1000)
    ordered = sorted(times)
    return ordered[len(ordered) // 2], times


def sigmas_for(steps, shift=3.0):
    # FlowMatchEulerDiscreteScheduler (diffusers), as the engine's FlowMatchSchedule
    ts = [1000 - i * (1000 - 1) / (steps - 1) for i in range(steps)] if steps > 1 else [1000.0]
    s = [t / 1000 for t in ts]
    s = [shift * x / (1 + (shift - 1) * x) for x in s]
    return s + [0.0]


def torch_morph(model, vae, a, dtype, device, seq, pooled, budget_s, call_ms):
    """The morph as the engine renders it; one untimed batch at one step first (as engine-bench warms up)."""
    latent = a.size // 8
    b = a.frames_per_call
    batches = math.ceil(a.frames / b)
    g = 7.0
    ctx = torch.randn(2 * b, seq, a.context, device=device, dtype=dtype) * 0.5
    pool = torch.randn(2 * b, pooled, device=device, dtype=dtype) * 0.5

    def run(n_batches, steps):
        sig = sigmas_for(steps)
        for _ in range(n_batches):
            x = torch.randn(b, 16, latent, latent, device=device, dtype=torch.float32)
            for i in range(steps):
                t = torch.full((2 * b,), sig[i] * 1000, device=device, dtype=dtype)
                v = model(torch.cat([x, x]).to(dtype), ctx, pool, t).float()
                vu, vc = v.chunk(2)
                x = x + (sig[i + 1] - sig[i]) * (vu + g * (vc - vu))
            img = vae((x / 1.5305 + 0.0609).to(dtype)).float()
            ((img + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
        sync(device)

    run(1, 1)  # warm-up: kernels, the decoder, allocations
    projected = batches * a.steps * call_ms / 1000
    batches_run = batches if projected <= budget_s else 1
    if batches_run != batches:
        log(f"morph projected at {projected:.0f}s > budget {budget_s:.0f}s: timing one batch and projecting")
    runs = []
    for _ in range(max(1, a.morph_runs) if batches_run == batches else 1):
        t0 = time.perf_counter()
        run(batches_run, a.steps)
        runs.append((time.perf_counter() - t0) * 1000)
    ms = sorted(runs)[len(runs) // 2]
    return {
        "frames": a.frames,
        "framesRun": batches_run * b,
        "projected": batches_run != batches,
        "ms": ms * batches / batches_run,
        "msMeasured": ms,
        "runs": runs,
        "framesPerSecond": a.frames / (ms * batches / batches_run / 1000),
    }


def export(module, args, path, input_names, output_names, dynamic_axes, fused=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kwargs = dict(input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes, opset_version=17, do_constant_folding=True)
    if fused:
        kwargs["custom_opsets"] = {"com.microsoft": 1}
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    if has_dynamo:
        kwargs["dynamo"] = False  # the TorchScript exporter: it honours the fused-attention symbolic
    tmp = path + ".export"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    AttentionMode.fused_export = fused
    try:
        with torch.no_grad():
            torch.onnx.export(module, args, os.path.join(tmp, "model.onnx"), **kwargs)
    except Exception as e:  # noqa: BLE001
        if not has_dynamo:
            raise
        # a torch without the TorchScript exporter: the dynamo exporter, attention as torch exports SDPA
        log(f"TorchScript export failed ({str(e).splitlines()[0][:200]}); retrying with dynamo=True, attention unfused")
        EXPORT_NOTES.append(f"{os.path.basename(os.path.dirname(path))}: dynamo exporter, attention not fused")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        kwargs.update(dynamo=True, opset_version=18)
        kwargs.pop("custom_opsets", None)
        AttentionMode.fused_export = False
        with torch.no_grad():
            torch.onnx.export(module, args, os.path.join(tmp, "model.onnx"), **kwargs)
    finally:
        AttentionMode.fused_export = False
    files = os.listdir(tmp)
    if files == ["model.onnx"]:
        shutil.move(os.path.join(tmp, "model.onnx"), path)
    else:
        # over 2 GB the exporter writes one file per tensor: gather them into model.onnx_data, the exporter
        # layout (optimum's `location=output.name + "_data"`)
        import onnx

        model = onnx.load(os.path.join(tmp, "model.onnx"))
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
    shutil.rmtree(tmp, ignore_errors=True)


def to_external_data(path):
    """Moves the weights of a single-file model into model.onnx_data (needs the onnx package)."""
    try:
        import onnx
    except ImportError:
        log(f"onnx not installed: {os.path.relpath(path)} keeps its weights inside")
        return
    model = onnx.load(path)
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)


def write_json(path, value):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def main():
    a = parse()
    device = a.device
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    torch.manual_seed(0)
    latent = a.size // 8
    clips = clip_specs(a.clip)
    pooled = sum(w for w, _ in clips)
    seq = 154  # 77 CLIP rows + 77 zero rows for the missing T5 (the engine's default)
    rows = 2 * a.frames_per_call
    vae_channels = [int(c) for c in a.vae.split(",")]
    log(f"phase {a.phase}: torch {torch.__version__} on {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'cpu'}), {a.dtype}, attention {a.attention}")

    def build(cls, *args, **kw):
        if hasattr(torch, "device") and device != "cpu" and hasattr(torch.device(device), "__enter__"):
            with torch.device(device):  # allocate and initialise on the GPU: 2B parameters on the CPU take minutes
                m = cls(*args, **kw)
        else:
            m = cls(*args, **kw)
        init_weights(m)
        return m.to(device=device, dtype=dtype).eval()

    with torch.no_grad():
        model = build(MMDiT, blocks=a.blocks, hidden=a.hidden, heads=a.heads, context=a.context, pooled=pooled, latent=latent)
        vae = build(VaeDecoder, block_out=tuple(vae_channels), groups=a.groups)
        encoders = [build(ClipText, 1469, w, l, max(1, w // 64), w) for w, l in clips]
    params = sum(p.numel() for p in model.parameters())
    log(f"MMDiT: {a.blocks} blocks, hidden {a.hidden}, {a.heads} heads, {params / 1e9:.3f}B parameters; VAE decoder {sum(p.numel() for p in vae.parameters()) / 1e6:.1f}M")

    tokens = (latent // 2) ** 2 + seq
    results = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "dtype": a.dtype,
        "phase": a.phase,
        "config": {"blocks": a.blocks, "hidden": a.hidden, "heads": a.heads, "context": a.context, "pooled": pooled, "size": a.size, "latent": latent, "tokens": tokens, "rows": rows, "params": params},
        "timing": {**TIMING, "warmup": a.warmup, "iters": a.iters},
    }
    # FLOPs of one call: per block, 12 h^2 multiply-adds per token in the linear layers (qkv 3, out 1, FF 8; text
    # tokens have their own copies) and 2 T^2 h in the joint attention (QK^T and AV); adaLN is per sample, left out
    results["flopsPerCall"] = rows * a.blocks * (24 * tokens * a.hidden * a.hidden + 4 * tokens * tokens * a.hidden)

    with torch.no_grad():
        sample, ctx, pool, t = deterministic_inputs(rows, 16, latent, seq, a.context, pooled, dtype, device)
        flat = model(sample, ctx, pool, t).float().flatten()
        reference = {
            "rows": rows,
            "first": [round(v, 6) for v in flat[:2048].cpu().tolist()],
            "meanAbs": flat.abs().mean().item(),
            "maxAbs": flat.abs().max().item(),
            "nonFinite": int((~torch.isfinite(flat)).sum().item()),
        }
    log(f"reference output: mean |v| {reference['meanAbs']:.4g}, max {reference['maxAbs']:.4g}, non-finite {reference['nonFinite']}")
    ref_path = os.path.join(a.out, "bench-reference.json")
    export_path = os.path.join(a.out, "bench-export.json")

    if a.phase in ("all", "export"):
        export_pack(a, model, vae, encoders, clips, pooled, latent, vae_channels, (sample, ctx, pool, t))
        write_json(ref_path, reference)
        write_json(export_path, {"exportNotes": EXPORT_NOTES, "config": results["config"], "dtype": a.dtype, "attention": a.attention, "torch": torch.__version__})
        results["reference"] = reference
        results["exportNotes"] = EXPORT_NOTES
    else:
        # the models were built again from the same seed: they must be the pack's (the engine is checked against these values)
        if os.path.exists(ref_path):
            with open(ref_path) as f:
                saved = json.load(f)
            num = sum((x - y) ** 2 for x, y in zip(reference["first"], saved["first"]))
            den = sum(y * y for y in saved["first"]) or 1e-30
            results["sameWeightsAsPack"] = {"relL2": math.sqrt(num / den), "compared": len(saved["first"])}
            log(f"rebuilt model vs the pack's reference output: relative L2 {results['sameWeightsAsPack']['relL2']:.2e}")
            results["reference"] = saved
        else:
            log(f"no {ref_path}: the engine's output is compared with this build's")
            results["reference"] = reference
        if os.path.exists(export_path):
            with open(export_path) as f:
                results["exportNotes"] = json.load(f).get("exportNotes", [])
    write_json(a.results, results)
    if a.phase == "export" or a.skip_torch:
        return

    with torch.no_grad():
        call_ms, all_ms = time_call(lambda: model(sample, ctx, pool, t), device, a.iters, a.warmup)
        results["call"] = {"ms": call_ms, "runs": all_ms, "tflops": results["flopsPerCall"] / call_ms / 1e9}
        log(f"PyTorch eager: one transformer call at batch {rows}: {call_ms:.2f} ms median of {a.iters} after {a.warmup} warm-up ({results['call']['tflops']:.0f} TFLOP/s)")
        if device.startswith("cuda"):
            n = 8192
            A, B = torch.randn(n, n, device=device, dtype=torch.float16), torch.randn(n, n, device=device, dtype=torch.float16)
            mm_ms, _ = time_call(lambda: A @ B, device, a.iters, a.warmup)
            results["matmul"] = {"n": n, "ms": mm_ms, "tflops": 2 * n**3 / mm_ms / 1e9}
            log(f"PyTorch fp16 matmul {n}^3: {mm_ms:.2f} ms ({results['matmul']['tflops']:.0f} TFLOP/s)")
            del A, B
        write_json(a.results, results)
        remaining = a.budget - (time.time() - T0)
        results["morph"] = torch_morph(model, vae, a, dtype, device, seq, pooled, max(remaining - 10, 5), call_ms)
    m = results["morph"]
    log(f"PyTorch eager: {a.frames}-frame {a.size}x{a.size} morph at {a.steps} steps: {m['ms'] / 1000:.2f} s ({m['framesPerSecond']:.2f} frames/s){' (projected from one batch)' if m['projected'] else ''}")
    write_json(a.results, results)


def export_pack(a, model, vae, encoders, clips, pooled, latent, vae_channels, inputs):
    """Writes the models in optimum's SD3 layout, with the engine's latentwalk.json."""
    device = a.device
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    sample, ctx, pool, t = inputs
    out = a.out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for d in ("tokenizer", "tokenizer_2"):
        shutil.copytree(os.path.join(ROOT, "models", "tiny", d), os.path.join(out, d))
    names = ["text_encoder", "text_encoder_2"]
    with torch.no_grad():
        for name, enc, (w, layers) in zip(names, encoders, clips):
            ids = torch.full((1, 77), 1468, dtype=torch.int64, device=device)
            ids[0, 0] = 1467
            outs = ["text_embeds", "last_hidden_state"] + [f"hidden_states.{i}" for i in range(layers + 1)]
            export(enc, (ids,), os.path.join(out, name, "model.onnx"), ["input_ids"], outs, {"input_ids": {0: "batch_size"}, **{o: {0: "batch_size"} for o in outs}})
            write_json(os.path.join(out, name, "config.json"), {
                "architectures": ["CLIPTextModelWithProjection"], "model_type": "clip_text_model", "hidden_size": w, "intermediate_size": 4 * w,
                "num_hidden_layers": layers, "num_attention_heads": max(1, w // 64), "projection_dim": w, "max_position_embeddings": 77,
                "vocab_size": 1469, "bos_token_id": 1467, "eos_token_id": 1468, "pad_token_id": 1468 if name == "text_encoder" else 0,
                "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "torch_dtype": "float16" if a.dtype == "fp16" else "float32"})
        log("exported text encoders")

        tpath = os.path.join(out, "transformer", "model.onnx")
        s2, c2, p2, t2 = (x[:2] for x in (sample, ctx, pool, t))
        export(model, (s2, c2, p2, t2), tpath, ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], ["out_hidden_states"], {
            "hidden_states": {0: "batch_size"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
            "pooled_projections": {0: "batch_size"}, "timestep": {0: "step"}, "out_hidden_states": {0: "batch_size"}}, fused=a.attention == "fused")
        if not os.path.exists(os.path.join(out, "transformer", "model.onnx_data")):
            to_external_data(tpath)
        size = sum(os.path.getsize(os.path.join(out, "transformer", f)) for f in os.listdir(os.path.join(out, "transformer")))
        log(f"exported transformer ({size / 2**30:.2f} GiB)")
        write_json(os.path.join(out, "transformer", "config.json"), {
            "_class_name": "SD3Transformer2DModel", "attention_head_dim": a.hidden // a.heads, "caption_projection_dim": a.hidden, "in_channels": 16,
            "joint_attention_dim": a.context, "num_attention_heads": a.heads, "num_layers": a.blocks, "out_channels": 16, "patch_size": 2,
            "pooled_projection_dim": pooled, "pos_embed_max_size": 192, "sample_size": latent})

        z = torch.zeros(1, 16, latent, latent, device=device, dtype=dtype)
        export(vae, (z,), os.path.join(out, "vae_decoder", "model.onnx"), ["latent_sample"], ["sample"], {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"}, "sample": {0: "batch_size", 2: "height", 3: "width"}})
    write_json(os.path.join(out, "vae_decoder", "config.json"), {
        "_class_name": "AutoencoderKL", "block_out_channels": vae_channels, "latent_channels": 16, "layers_per_block": 2, "norm_num_groups": a.groups,
        "out_channels": 3, "scaling_factor": 1.5305, "shift_factor": 0.0609, "sample_size": a.size})
    log("exported VAE decoder")

    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0})
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusion3Pipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_3": [None, None], "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "tokenizer_3": [None, None], "transformer": ["diffusers", "SD3Transformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]})
    write_json(os.path.join(out, "latentwalk.json"), {
        "name": f"sd3-random-{a.blocks}x{a.hidden}-{a.dtype}-{a.attention}",
        "defaults": {"width": a.size, "height": a.size, "steps": a.steps, "guidance": 7, "frames": a.frames, "batchSize": a.frames_per_call}})
    log(f"pack written to {out}")


if __name__ == "__main__":
    main()
