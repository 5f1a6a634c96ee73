"""Writes what a run produced besides the ONNX files: fixtures for the TypeScript tests, figures, the
model card (models/shapes/README.md) and the measured-run section of tools/train-shapes/README.md."""
import json
import os
import platform
import subprocess
import time

import numpy as np
import torch
from PIL import Image

import measure
from evaluate import adherence_prompts
from models import count_params
from shapes_data import CENTER_NAMED, POSITION_JITTER, POSITION_WEIGHTS, SIZE_RANGE
from tokenizer import write_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_START = "<!-- measured-run:start -->"
RUN_END = "<!-- measured-run:end -->"


def hardware():
    model, cores = platform.processor() or "unknown", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                model = v.strip()
            if k.strip() == "CPU(s)":
                cores = int(v.strip())
    except OSError:
        pass
    return dict(cpu=model, cores=cores, threads_used=torch.get_num_threads(), torch=torch.__version__,
                python=platform.python_version())


def _sizes(out):
    rows = []
    for root, _, files in os.walk(out):
        for f in sorted(files):
            p = os.path.join(root, f)
            rows.append((os.path.relpath(p, out), os.path.getsize(p)))
    return sorted(rows)


def _grid(images, cols, scale=2):
    n = len(images)
    rows = (n + cols - 1) // cols
    h, w = images.shape[1], images.shape[2]
    g = np.full((rows * (h + 2), cols * (w + 2), 3), 255, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        g[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = im
    img = Image.fromarray(g)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def _pct(x):
    return "n/a" if x is None else "%.1f%%" % (100 * x)


def write_reports(args, cfg, tok, out, fin, timings, modules, scale, shift):
    enc1, enc2, dit, vae_enc, vae_dec = modules
    hw = hardware()
    items = adherence_prompts()

    write_fixtures(tok, os.path.join(HERE, "token-fixtures.json"))

    measure_doc = dict(
        input="RGB uint8 image, 64x64 (frames as the engine outputs them before display upscaling)",
        palette={k: list(v) for k, v in measure.PALETTE.items()},
        constants=dict(MIN_CONTRAST=measure.MIN_CONTRAST, HOLE_MIN_FRACTION=measure.HOLE_MIN_FRACTION,
                       STAR_MAX_SOLIDITY=measure.STAR_MAX_SOLIDITY, SQUARE_MIN_FILL=measure.SQUARE_MIN_FILL,
                       CIRCLE_MIN_FILL=measure.CIRCLE_MIN_FILL),
        steps=[
            "bg = per-channel lower median (sorted[(n-1)/2]) of the 252 outermost pixels (rows 0 and 63, "
            "columns 0 and 63 of rows 1..62)",
            "dist = Euclidean RGB distance of every pixel to bg; dmax = max(dist); if dmax < MIN_CONTRAST: "
            "no shape (colour and shape both wrong)",
            "mask = dist > max(MIN_CONTRAST, dmax / 2)",
            "comp = largest 4-connected component of mask (first found in row-major order on ties)",
            "colour = palette colour nearest (squared RGB distance) to the mean RGB of comp's pixels",
            "outside = pixels not in comp reachable from the image border through 4-connected non-comp "
            "pixels; filled = not outside; holes = |filled| - |comp|",
            "fill = |filled| / (bounding box width * height of filled)",
            "hull = area of the convex hull of the corner points (x, y), (x, y+1) of each row's leftmost filled "
            "pixel and (x+1, y), (x+1, y+1) of its rightmost (x = column, y = row); solidity = |filled| / hull",
            "shape = ring if holes / |filled| >= HOLE_MIN_FRACTION; else star if solidity < STAR_MAX_SOLIDITY; "
            "else square if fill >= SQUARE_MIN_FILL; else circle if fill >= CIRCLE_MIN_FILL; else triangle",
        ],
        reference_python="tools/train-shapes/measure.py (analyse)",
    )
    first = fin.get("adherence_first")
    allr = fin.get("adherence_all")
    adherence = dict(
        note="Prompt-adherence check for models/shapes: render each prompt with the pack's defaults (negative "
             "prompt \"\") and the given seed, then measure the colour and the shape of the drawn shape with "
             "the algorithm below. Targets: colour >= 0.9, shape >= 0.75 over the list. Seeds are the "
             "engine's seeds; the expectation does not depend on the noise generator, but the figures below "
             "came from PyTorch's randn with these seeds.",
        sampler=dict(steps=cfg["steps"], guidance=cfg["guidance"], shift=cfg["shift"], negative="", width=64,
                     height=64),
        targets=dict(colour=0.9, shape=0.75),
        measure=measure_doc,
        prompts=items,
        measured=None if first is None else dict(
            path="onnxruntime-node, exported pack, PyTorch noise",
            first_seed=dict(colour=first["colour"], shape=first["shape"], per_shape=first["per_shape"]),
            three_seeds=dict(colour=allr["colour"], shape=allr["shape"], per_shape=allr["per_shape"],
                             seeds="seed, seed+1000, seed+2000"),
        ),
    )
    with open(os.path.join(HERE, "adherence.json"), "w") as f:
        json.dump(adherence, f, indent=2)
        f.write("\n")

    if "adherence_images" in fin:
        _grid(fin["adherence_images"][:len(items)], 9).save(os.path.join(out, "samples.png"), optimize=True)
        _grid(fin["morph_images"], 16).save(os.path.join(out, "morph.png"), optimize=True)

    sizes = _sizes(out)
    params = dict(text_encoder=count_params(enc1), text_encoder_2=count_params(enc2), transformer=count_params(dit),
                  vae_decoder=count_params(vae_dec), vae_encoder_not_shipped=count_params(vae_enc))
    training = dict(
        seed=args.seed, config=cfg, timings_s={k: round(v, 1) for k, v in timings.items()}, hardware=hw,
        date=time.strftime("%Y-%m-%d"), params=params, scaling_factor=scale, shift_factor=shift,
        vocab_size=tok.vocab_size,
        adherence=adherence["measured"],
        morph=fin.get("morph", {}).get("summary"),
        onnx_parity_worst_rel=fin.get("parity_worst_rel"),
        renders=fin.get("renders"),
    )
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=2)
        f.write("\n")
    sizes = _sizes(out)

    card = model_card(cfg, tok, fin, timings, hw, params, sizes, scale, shift, args)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(card)
    update_tools_readme(run_section(cfg, timings, hw, fin, sizes))


def _morph_line(fin):
    m = fin.get("morph")
    if not m:
        return "not measured"
    s = m["summary"]
    return "first frame %s %s, last frame %s %s, %d reversal(s) of the red->blue trend over 15 frame pairs" % (
        s["first"][0], s["first"][1], s["last"][0], s["last"][1], s["reversals"])


def _render_line(fin):
    r = [x for x in fin.get("renders") or [] if x["name"] == "morph"]
    if not r:
        return "not measured"
    r = r[0]
    return ("%.1f s (load %.1f s, text encoding %.2f s, denoising %.1f s, VAE decode %.2f s; batch %d frames, "
            "%d steps, guidance on)" % (r["totalMs"] / 1e3, r["loadMs"] / 1e3, r["encodeMs"] / 1e3,
                                        r["denoiseMs"] / 1e3, r["decodeMs"] / 1e3, r["batchSize"], r["steps"]))


def run_section(cfg, timings, hw, fin, sizes):
    first, allr = fin.get("adherence_first"), fin.get("adherence_all")
    total = sum(s for _, s in sizes)
    lines = [
        RUN_START,
        "## Last measured run",
        "",
        "- Date: %s; hardware: %s, %d CPU cores (torch threads: %d), PyTorch %s." % (
            time.strftime("%Y-%m-%d"), hw["cpu"], hw["cores"], hw["threads_used"], hw["torch"]),
        "- Wall time: **%.1f min** in all (VAE %.0f s, MMDiT + text encoders %.0f s, export %.0f s, "
        "ONNX checks and ORT evaluation %.0f s)." % (
            timings["total"] / 60, timings["vae"], timings["dit"], timings["export"], timings["onnx_check"]),
        "- Pack: %.2f MB in %d files." % (total / 1e6, len(sizes)),
    ]
    if first:
        lines.append("- Adherence through onnxruntime-node (45 prompts, seed list of adherence.json): colour %s, "
                     "shape %s; over 3 seeds per prompt (135 images): colour %s, shape %s." % (
                         _pct(first["colour"]), _pct(first["shape"]), _pct(allr["colour"]), _pct(allr["shape"])))
        lines.append("- Morph \"a red circle\" -> \"a blue square\": %s." % _morph_line(fin))
        lines.append("- 16-frame 64x64 render through onnxruntime-node: %s." % _render_line(fin))
    lines.append(RUN_END)
    return "\n".join(lines)


def update_tools_readme(section):
    path = os.path.join(HERE, "README.md")
    text = open(path).read() if os.path.exists(path) else ""
    if RUN_START in text and RUN_END in text:
        a, b = text.index(RUN_START), text.index(RUN_END) + len(RUN_END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def model_card(cfg, tok, fin, timings, hw, params, sizes, scale, shift, args):
    first, allr = fin.get("adherence_first"), fin.get("adherence_all")
    total = sum(s for _, s in sizes)
    e1, e2 = cfg["enc1"], cfg["enc2"]
    L = []
    w = L.append
    w("# shapes: a toy SD3-family model pack\n")
    w("A tiny model with Stable Diffusion 3's architecture and pipeline (two CLIP-style text encoders, an "
      "MMDiT trained with rectified flow, a VAE with scaling and shift factors), trained from scratch on "
      "images of coloured shapes that a script draws. It exists so that latentwalk's engine renders real "
      "pictures through exactly the code path it uses for SD3, on two CPU cores, without gated or "
      "multi-gigabyte weights. It knows nothing but the captions below.\n")
    w("Layout: the Hugging Face Optimum ONNX export layout for SD3 (`model_index.json`, `scheduler/`, "
      "`tokenizer/`, `tokenizer_2/`, `text_encoder/`, `text_encoder_2/`, `transformer/`, `vae_decoder/`), "
      "no T5 (`text_encoder_3`), plus `latentwalk.json` with the pack's defaults. Inputs and outputs are "
      "float32; weights are stored as float16 initializers cast to float32 inside the graphs.\n")
    w("## What it was trained on\n")
    w("An endless, seeded stream of 64x64 RGB images drawn with PIL (4x supersampled, box-filtered): one "
      "shape (circle, square, triangle, ring, star) in one of nine colours (red, orange, yellow, green, blue, "
      "purple, white, black, gray) on a plain background of a different one of those colours, small "
      "(%g-%g px) or big (%g-%g px), at top left, top right, bottom left, bottom right or center (+-%g px "
      "jitter; the centre is drawn %d%% of the time). Captions follow \"a big red circle on a white background, "
      "top left\" with the size (50%%), colour (10%%) and background (50%%) left out at random; a corner "
      "position is always named and the centre only in %d%% of its captions, so a caption without a position "
      "means a centred shape (\"a red circle\" has one answer, not five); \"an\" before orange. 10%% of "
      "captions are replaced by the empty prompt \"\" for classifier-free guidance. No other words were "
      "ever seen.\n" % (SIZE_RANGE["small"] + SIZE_RANGE["big"] + (POSITION_JITTER, round(100 * POSITION_WEIGHTS["center"]),
                                                                     round(100 * CENTER_NAMED))))
    w("## Architecture\n")
    w("| part | what | parameters |")
    w("|---|---|---|")
    w("| VAE | conv autoencoder 64x64x3 <-> 8x8x%d, decoder output tanh in [-1, 1]; scaling_factor %.4f, "
      "shift_factor %.4f (SD3 convention: diffusion runs on (latent - shift) * scale) | decoder %s (encoder "
      "%s, not shipped) |" % (cfg["latent_channels"], scale, shift, f"{params['vae_decoder']:,}",
                              f"{params['vae_encoder_not_shipped']:,}"))
    w("| text_encoder (CLIP-L role) | %d-wide, %d pre-LN layers, %d heads, causal, %s, final LayerNorm, "
      "text_projection of the EOS row (argmax of ids) -> %d | %s |" % (
          e1["d"], e1["layers"], e1["heads"], e1["act"], e1["proj"], f"{params['text_encoder']:,}"))
    w("| text_encoder_2 (CLIP-G role) | %d-wide, %d layers, %d heads, %s, projection %d | %s |" % (
        e2["d"], e2["layers"], e2["heads"], e2["act"], e2["proj"], f"{params['text_encoder_2']:,}"))
    w("| transformer | MMDiT (diffusers SD3Transformer2DModel layout): patch 2 (16 image tokens), learned "
      "positional embedding, hidden %d, %d joint blocks (adaLN-Zero image and context streams, joint attention "
      "over image + 154 context tokens, last block context_pre_only), %d heads, timestep sinusoidal 256 + "
      "pooled projection -> conditioning, context_embedder Linear(%d -> %d) | %s |" % (
          cfg["hidden"], cfg["layers"], cfg["heads"], cfg["joint_dim"], cfg["hidden"],
          f"{params['transformer']:,}"))
    w("")
    w("Conditioning, exactly as the engine builds it (SD3 without T5): context = concat(`hidden_states.%d` of "
      "text_encoder, `hidden_states.%d` of text_encoder_2) on the feature axis ([77, %d]), zero-padded to "
      "joint_attention_dim %d, then 77 zero rows appended -> [154, %d] (the text encoders zero their rows after "
      "EOS, so only the rows up to EOS carry the caption); pooled = concat(`text_embeds`, "
      "`text_embeds`) -> [%d]. tokenizer pads with `<|endoftext|>` (id %d), tokenizer_2 with `!` (id 0); "
      "BOS %d, EOS %d (the two highest ids), 77 tokens.\n" % (
          e1["layers"] - 1, e2["layers"] - 1, e1["d"] + e2["d"], cfg["joint_dim"], cfg["joint_dim"],
          e1["proj"] + e2["proj"], tok.eos_id, tok.bos_id, tok.eos_id))
    w("Sampler (what `latentwalk.json` and `scheduler/scheduler_config.json` say): FlowMatchEulerDiscrete, "
      "shift %s, **%d steps, guidance %s**, negative prompt \"\", 64x64, frames upscaled x4 for display "
      "(nearest neighbour).\n" % (cfg["shift"], cfg["steps"], cfg["guidance"]))
    w("## How it was trained\n")
    w("1. VAE: %d steps of batch %d, Adam lr %g (cosine), loss L1 + L2 with edge pixels weighted x%g, "
      "latent noise sigma %g and L2 penalty %g on the latent; then frozen. Scale and shift from 2048 fresh "
      "images." % (cfg["vae_steps"], cfg["vae_batch"], cfg["vae_lr"], 1 + cfg["vae_edge_weight"],
                    cfg["vae_latent_noise"], cfg["vae_latent_l2"]))
    w("2. MMDiT and both text encoders together from the flow-matching loss: x_t = (1 - sigma) x0 + sigma "
      "noise, target noise - x0, timestep input sigma * 1000, sigma ~ logit-normal(0, 1) (SD3); %d steps of "
      "batch %d (%s images), AdamW lr %g (warm-up %d, cosine to 10%%), grad clip 1, EMA %g (the EMA weights "
      "ship). bf16 autocast for the matrix products (the Debian PyTorch build has a reference BLAS; oneDNN "
      "bf16 is ~5x faster). The text encoders run on the tokens up to the batch's last EOS, and the context's "
      "all-zero rows (padding after EOS and the 77 rows standing in for T5) are folded into one attention key "
      "with their multiplicity during training (identical function, checked in `models.py`)." % (
          cfg["dit_steps"], cfg["batch"], f"{cfg['dit_steps'] * cfg['batch']:,}", cfg["lr"], cfg["warmup"],
          cfg["ema"]))
    w("3. Weights rounded to float16, exported with torch.onnx.export (opset 17), outputs compared with "
      "onnxruntime-node (worst relative max-abs difference %s), then evaluated through onnxruntime-node.\n" % (
          "%.1e" % fin["parity_worst_rel"] if fin.get("parity_worst_rel") is not None else "n/a"))
    w("Time: **%.1f min** wall for the whole run (VAE %.1f min, MMDiT %.1f min, export + checks %.1f min) on "
      "%s, %d cores, %d torch threads, PyTorch %s, seed %d.\n" % (
          timings["total"] / 60, timings["vae"] / 60, timings["dit"] / 60,
          (timings["export"] + timings["onnx_check"]) / 60, hw["cpu"], hw["cores"], hw["threads_used"],
          hw["torch"], args.seed))
    w("## How to retrain\n")
    w("```\n/usr/bin/python3 tools/train-shapes/train.py --out models/shapes --seed %d\n```\n" % args.seed)
    w("Deterministic for a given seed, thread count (2) and machine; see `tools/train-shapes/README.md`.\n")
    w("## Figures\n")
    if first:
        w("Prompt adherence through onnxruntime-node with the defaults above, 45 prompts "
          "(`tools/train-shapes/adherence.json`: every shape x colour, four caption templates), "
          "measured by the algorithm in that file:\n")
        w("| | colour | shape |")
        w("|---|---|---|")
        w("| 45 prompts, listed seeds | %s | %s |" % (_pct(first["colour"]), _pct(first["shape"])))
        w("| 45 prompts x 3 seeds | %s | %s |" % (_pct(allr["colour"]), _pct(allr["shape"])))
        for k, v in allr["per_shape"].items():
            w("| %s (x3 seeds, %d images) | %s | %s |" % (k, v["n"], _pct(v["colour"]), _pct(v["shape"])))
        w("")
        w("Background colour, where the prompt names one: %s (x3 seeds).\n" % _pct(allr["background"]))
        w("Morph \"a red circle\" -> \"a blue square\" (16 frames, lerped conditioning, one noise): %s.\n" %
          _morph_line(fin))
        w("One 16-frame 64x64 render through onnxruntime-node (2 threads): %s.\n" % _render_line(fin))
        w("![samples](samples.png)\n")
        w("The 45 adherence prompts (rows: circle, square, triangle, ring, star; columns: the nine colours).\n")
        w("![morph](morph.png)\n")
    w("## Files\n")
    w("| file | bytes |")
    w("|---|---|")
    for p, s in sizes:
        w("| %s | %s |" % (p, f"{s:,}"))
    w("| **total** | **%s** |\n" % f"{total:,}")
    w("## Limitations\n")
    w("A toy: 64x64 only (the transformer's positional embedding is fixed to the 8x8 latent), a 40-word "
      "vocabulary (other words tokenize to characters and mean nothing to it), one shape per image, no "
      "rotation, no text, no people, no photographs. Small shapes are drawn less cleanly than big ones.\n")
    return "\n".join(L)
