"""Export of the emoji pack (the shapes layout plus vae_encoder/), the committed reference thumbnails and token
fixtures, the onnxruntime-node checks, the engine's figures, and the model card."""
import json
import os
import platform
import shutil
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn

import emoji_data as D
from export import _export, _write_json, half_storage, run_node, save_bin, write_check_cases, export_pack  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REFERENCE_DIR = os.path.join(HERE, "reference")
TOKEN_FIXTURES = os.path.join(HERE, "token-fixtures.json")
LOGVAR = -30.0  # the encoder is deterministic: exp(0.5 * -30) ~ 3e-7, a sample is the mean
PACK_PARTS = ("model_index.json", "latentwalk.json", "scheduler", "tokenizer", "tokenizer_2", "text_encoder",
              "text_encoder_2", "transformer", "vae_decoder", "vae_encoder")


class VaeEncoderOnnx(nn.Module):
    """AutoencoderKL encoder output as optimum exports it: `latent_parameters` = mean and log-variance
    channels, [B, 2C, h, w]."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, sample):
        mean = self.enc(sample)
        return torch.cat([mean, torch.full_like(mean, LOGVAR)], dim=1)


def export(out, cfg, tok, enc1, enc2, dit, vae_enc, vae_dec, scale, shift, defaults, vocabulary, suggestions):
    for part in PACK_PARTS:  # a clean pack: no file of an earlier export survives
        p = os.path.join(out, part)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    h1, h2, ht, hv = export_pack(out, cfg, tok, enc1, enc2, dit, vae_dec, scale, shift, defaults, name="emoji")
    he = half_storage(vae_enc)
    _export(VaeEncoderOnnx(he), (torch.randn(1, 3, 64, 64),), os.path.join(out, "vae_encoder", "model.onnx"),
            ["sample"], ["latent_parameters"], {"sample": {0: "batch_size", 2: "height", 3: "width"},
                                                 "latent_parameters": {0: "batch_size", 2: "height", 3: "width"}})
    with open(os.path.join(out, "vae_decoder", "config.json")) as f:
        _write_json(os.path.join(out, "vae_encoder", "config.json"), json.load(f))
    manifest = {"name": "emoji", "defaults": defaults, "vocabulary": vocabulary, "suggestions": suggestions}
    with open(os.path.join(out, "latentwalk.json"), "w") as f:
        # One line per key: the vocabulary is long.
        f.write("{\n" + ",\n".join("  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in manifest.items()) + "\n}\n")
    return h1, h2, ht, hv, he


# ---------------------------------------------------------------------------------------------
def write_reference(thumbs, emoji):
    """tools/train-emoji/reference/: the 32x32 thumbnails of the 1,911 training images (composited on white,
    2x2 box mean, rounded) as one lossless PNG atlas, 48 per row in emoji.json order, and index.json."""
    from PIL import Image
    os.makedirs(REFERENCE_DIR, exist_ok=True)
    cols = 48
    rows = (len(thumbs) + cols - 1) // cols
    atlas = np.full((rows * 32, cols * 32, 3), 255, np.uint8)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, cols)
        atlas[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32] = t
    Image.fromarray(atlas).save(os.path.join(REFERENCE_DIR, "thumbnails-32.png"), optimize=True)
    index = dict(
        note="32x32 thumbnails of the training images of models/emoji: tools/train-emoji/README.md. Row-major in "
             "thumbnails-32.png, %d per row, in this order." % cols,
        columns=cols, size=32, count=len(thumbs),
        emoji=[dict(unified=e["unified"], short=e["short"]) for e in emoji])
    with open(os.path.join(REFERENCE_DIR, "index.json"), "w") as f:
        f.write(json.dumps({k: v for k, v in index.items() if k != "emoji"}, indent=2)[:-2] + ',\n  "emoji": [\n')
        f.write(",\n".join("    " + json.dumps(e) for e in index["emoji"]) + "\n  ]\n}\n")


TOKEN_PROMPTS = ["a dog", "a cat", "dog face", "A DOG!!", "a pet dog", "dog, pet, puppy", "an assassin",
                 "a t rex", "clock1230", "a face with tears of joy", "", "a dog " * 40]


def write_token_fixtures(tok, spec):
    prompts = TOKEN_PROMPTS + [it["prompt"] for it in spec["items"][::8]]
    items = [dict(prompt=p, tokenizer=tok.encode(p, tok.eos_id), tokenizer_2=tok.encode(p, 0)) for p in prompts]
    with open(TOKEN_FIXTURES, "w") as f:
        f.write("{\n  \"note\": \"input_ids [77] from tools/train-emoji/emoji_tokenizer.py for models/emoji tokenizer/ "
                "(pads with <|endoftext|>) and tokenizer_2/ (pads with '!' = id 0)\",\n")
        f.write("  \"bos\": %d,\n  \"eos\": %d,\n  \"prompts\": [\n" % (tok.bos_id, tok.eos_id))
        f.write(",\n".join("    " + json.dumps(it) for it in items))
        f.write("\n  ]\n}\n")


# ---------------------------------------------------------------------------------------------
def check_parity(work, out, tok, cfg, mods):
    """Every graph through onnxruntime-node against the exported (float16-storage) torch modules."""
    h1, h2, ht, hv, he = mods
    chk = os.path.join(work, "check")
    shutil.rmtree(chk, ignore_errors=True)
    os.makedirs(chk)
    cases = write_check_cases(chk, out, tok, cfg, h1, h2, ht, hv, ["a dog", "", "a face with tears of joy"])
    g = torch.Generator().manual_seed(99)
    x = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        for tag, sel in (("b3", slice(None)), ("b1", slice(1, 2))):
            key = "vae_encoder_" + tag
            cases.append(dict(model=os.path.join(out, "vae_encoder", "model.onnx"), name=key,
                              inputs={"sample": save_bin(chk, key + "_x", x[sel].numpy())},
                              outputs={"latent_parameters": save_bin(chk, key + "_out",
                                                                     VaeEncoderOnnx(he)(x[sel]).numpy())}))
    job = os.path.join(chk, "job.json")
    with open(job, "w") as f:
        json.dump(dict(cases=cases), f)
    rep = run_node(job, ROOT)
    if rep is None:
        D.log("WARNING: node/onnxruntime-node unavailable: ONNX parity not checked")
        return None
    worst = max(o["rel"] for c in rep["cases"] for o in c["outputs"].values())
    D.log("ONNX parity: %d graph runs, worst relative max-abs difference %.2e (ok=%s)" % (
        len(rep["cases"]), worst, rep["ok"]))
    return dict(worst_rel=worst, cases=len(rep["cases"]))


def engine_figures(out):
    """The recognisability figures through the engine (bench/emoji.ts --json): what the model card reports."""
    cmd = ["node", "--import", "tsx", "bench/emoji.ts", "--model", out, "--json", "--images", out]
    D.log("engine figures: %s" % " ".join(cmd))
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        print(res.stdout[-3000:])
        print(res.stderr[-3000:])
        D.log("WARNING: the engine's figures could not be measured (see above)")
        return None
    fig = json.loads(res.stdout.strip().splitlines()[-1])
    D.log("engine: top-1 %.3f top-5 %.3f over %d prompts; morph %s" % (
        fig["top1"], fig["top5"], fig["count"], json.dumps(fig["morph"]["summary"])))
    return fig


# ---------------------------------------------------------------------------------------------
def count(m):
    return sum(p.numel() for p in m.parameters())


def pct(x):
    return "%.1f%%" % (100 * x)


def write_reports(out, args, cfg, tok, emoji, spec, timings, figs, modules, eval_imgs):
    enc1, enc2, dit, vae_enc, vae_dec = modules
    params = dict(text_encoder=count(enc1), text_encoder_2=count(enc2), transformer=count(dit),
                  vae_decoder=count(vae_dec), vae_encoder=count(vae_enc))
    hardware = dict(cpu=_cpu_name(), cores=os.cpu_count(), threads_used=torch.get_num_threads(),
                    torch=torch.__version__, python=platform.python_version())
    eng = figs.get("engine")
    training = dict(seed=args.seed, config=cfg, timings_s={k: round(v, 1) for k, v in timings.items()},
                    hardware=hardware, date=time.strftime("%Y-%m-%d"), params=params,
                    scaling_factor=figs["scale"], shift_factor=figs["shift"], vocab_size=tok.vocab_size,
                    words=figs["words"], captions=figs["captions"], images=len(emoji),
                    data=[dict(package=n, version=v, sha256=s) for n, v, s in D.PACKAGES],
                    vae_reconstruction=figs["vae"], torch_eval=figs["torch"], onnx_parity=figs["parity"],
                    engine=eng)
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=2)
        f.write("\n")
    files = []
    for dirpath, _, names in os.walk(out):
        for n in names:
            p = os.path.join(dirpath, n)
            if n != "README.md":
                files.append((os.path.relpath(p, out), os.path.getsize(p)))
    files.sort()
    card = _card(cfg, params, hardware, timings, figs, eng, spec, files, len(emoji), tok)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(card)


def _cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _sweep(sweep, prefix, suffix=""):
    if not sweep:
        return "not run"
    return "; ".join("%s%s%s: %.1f%%/%.1f%%" % (prefix, k, suffix, 100 * v[0], 100 * v[1]) for k, v in sweep.items())


def _card(cfg, params, hw, timings, figs, eng, spec, files, n_images, tok):
    e1, e2 = cfg["enc1"], cfg["enc2"]
    mins = lambda k: timings.get(k, 0.0) / 60  # noqa: E731
    lines = []
    w = lines.append
    w("# emoji: a small SD3-family model that knows 1,911 emoji\n")
    w("A small model with Stable Diffusion 3's architecture and pipeline (two CLIP-style text encoders, an MMDiT "
      "trained with rectified flow, a VAE with scaling and shift factors), trained from scratch on the 1,911 emoji of "
      "Google's Noto Emoji set, so that `/morph dog cat` shows a dog turning into a cat on two CPU cores. It knows "
      "the words of its captions (%s words: `vocabulary` in `latentwalk.json`) and nothing else.\n" % format(figs["words"], ","))
    w("Layout: the Hugging Face Optimum ONNX export layout for SD3 (`model_index.json`, `scheduler/`, `tokenizer/`, "
      "`tokenizer_2/`, `text_encoder/`, `text_encoder_2/`, `transformer/`, `vae_decoder/`, `vae_encoder/`), no T5, "
      "plus `latentwalk.json` with the pack's defaults, its `vocabulary` and `suggestions` (prompts to offer as the "
      "user types, most common first). Inputs and outputs are float32; weights are float16 initializers cast to "
      "float32 inside the graphs. Same tensor names as `models/shapes`; `vae_encoder/model.onnx` takes `sample` "
      "[B, 3, H, W] in [-1, 1] and returns `latent_parameters` [B, 16, H/8, W/8] (8 mean channels, then 8 "
      "log-variance channels fixed at %g: the encoder is deterministic).\n" % LOGVAR)
    w("## What it was trained on\n")
    w("The %s emoji of `emoji-datasource-google` 16.0.0 (no skin-tone variants), `img/google/64/<unified>.png`, "
      "RGBA 64x64 composited on plain white (out = alpha * rgb + (1 - alpha) * 255, rounded). No augmentation for "
      "the MMDiT (the VAE also saw mirror images).\n" % format(n_images, ","))
    w("Captions (%s distinct, lowercase ASCII words; `tools/train-emoji/emoji_data.py`): for each emoji, from "
      "its primary short name (\"a dog\" 30%%, \"dog\" 12%%), its other short names (8%%), its Unicode name and "
      "emojibase label (\"dog face\", \"a slice of pizza\", 16%%), one emojibase tag (\"a pet\", \"puppy\", 18%%), "
      "a tag and the short name (\"a pet dog\", 8%%) or up to three tags (\"dog, pet, puppy\", 8%%); 10%% of "
      "captions are replaced by \"\" for classifier-free guidance. \"a <short name>\" is reserved: a name, "
      "alternative short name or tag equal to another emoji's primary short name is not used, so \"a dog\" is the "
      "dog face (short name `dog`), not the dog (name DOG, short name `dog2`). Emoji are drawn uniformly.\n"
      % format(figs["captions"], ","))
    w("## Architecture\n")
    w("| part | what | parameters |\n|---|---|---|")
    w("| VAE | conv autoencoder 64x64x3 <-> 8x8x%d (channels %s), decoder output tanh in [-1, 1]; scaling_factor "
      "%.4f, shift_factor %.4f (diffusion runs on (latent - shift) * scale) | decoder %s, encoder %s |" % (
          cfg["latent_channels"], "/".join(map(str, cfg["vae_channels"])), figs["scale"], figs["shift"],
          format(params["vae_decoder"], ","), format(params["vae_encoder"], ",")))
    w("| text_encoder (CLIP-L role) | %d-wide, %d pre-LN layers, %d heads, causal, %s, final LayerNorm, "
      "text_projection of the EOS row -> %d | %s |" % (e1["d"], e1["layers"], e1["heads"], e1["act"], e1["proj"],
                                                      format(params["text_encoder"], ",")))
    w("| text_encoder_2 (CLIP-G role) | %d-wide, %d layers, %d heads, %s, projection %d | %s |" % (
        e2["d"], e2["layers"], e2["heads"], e2["act"], e2["proj"], format(params["text_encoder_2"], ",")))
    w("| transformer | MMDiT (diffusers SD3Transformer2DModel layout): patch 2 (16 image tokens), learned "
      "positional embedding, hidden %d, %d joint blocks (adaLN-Zero, joint attention over image + 154 context "
      "tokens, RMS qk-norm, last block context_pre_only), %d heads, context_embedder Linear(%d -> %d)%s | %s |\n" % (
          cfg["hidden"], cfg["layers"], cfg["heads"], cfg["joint_dim"], cfg["hidden"],
          "; plus a per-patch text offset (see below)" if cfg.get("spatial_text") else "",
          format(params["transformer"], ",")))
    if cfg.get("spatial_text"):
        w("One addition to SD3's MMDiT: the pooled text embedding also gives each of the 16 latent patches its own "
          "offset (Linear(%d -> %d), SiLU, Linear(%d -> 16 x %d), added to the patch embeddings). In SD3 a caption "
          "reaches the image tokens only through adaLN (the same shift and scale for every patch) and attention to "
          "the caption rows; a model this small, trained from scratch on two CPU cores, learned which of 1,911 "
          "pictures a caption means several times faster with a per-patch path (trial runs of batch 32 with "
          "pretrained text encoders, evaluation list at step 2,000: top-1 1.1%% / top-5 3.4%% without, 6.2%% / 14.2%% "
          "with). The graph's inputs and outputs are SD3's.\n" % (
              e1["proj"] + e2["proj"], cfg["hidden"], cfg["hidden"], cfg["hidden"]))
    w("Conditioning exactly as the engine builds it (SD3 without T5): context = concat(`hidden_states.1` of both "
      "encoders) zero-padded to %d, then 77 zero rows -> [154, %d]; pooled = concat(`text_embeds`) -> [%d]. "
      "Tokenizers: CLIP byte-level BPE with one token per caption word (vocabulary %d, BOS %d, EOS %d; tokenizer "
      "pads with `<|endoftext|>`, tokenizer_2 with `!`), 77 tokens.\n" % (
          cfg["joint_dim"], cfg["joint_dim"], e1["proj"] + e2["proj"], tok.vocab_size, tok.bos_id, tok.eos_id))
    w("Sampler (`latentwalk.json`, `scheduler/scheduler_config.json`): FlowMatchEulerDiscrete, shift %.1f, "
      "**%d steps, guidance %.1f**, negative prompt \"\", 64x64, frames upscaled x4 for display. Chosen on 120 "
      "held-out prompts (\"a <short name>\" of emoji outside the evaluation list, seed 1000): guidance from %s at "
      "20 steps by top-1 + top-5 (%s), then the fewest steps from %s that lose at most 0.02 of that sum (%s).\n" % (
          cfg["shift"], cfg["steps"], cfg["guidance"], "/".join("%g" % g for g in cfg["guidance_candidates"]),
          _sweep(cfg.get("guidance_sweep"), "guidance "), "/".join(str(n) for n in cfg["steps_candidates"]),
          _sweep(cfg.get("steps_sweep"), "", " steps")))
    w("## How it was trained\n")
    w("1. VAE: %d steps of batch %d, Adam lr %g (cosine), loss L1 + L2 with edge pixels weighted x%d, latent "
      "noise %.2f, L2 penalty %g on the latent, first three latent channels held to the 8x8 box-filtered picture; "
      "then frozen. Reconstructions: mean abs error %.2f/255; %s of the %s reconstructions have their own image "
      "nearest (the measure below), the ceiling for the whole model." % (
          cfg["vae_steps"], cfg["vae_batch"], cfg["vae_lr"], int(cfg["vae_edge_weight"] + 1),
          cfg["vae_latent_noise"], cfg["vae_latent_l2"], figs["vae"]["mean_abs_err"], pct(figs["vae"]["top1"]),
          format(n_images, ",")))
    w("2. Text encoders alone for %d steps with linear probes that predict which emoji a caption was drawn for "
      "(from the pooled output and the EOS row of each encoder; training-only, not exported)." % cfg["text_steps"])
    w("3. MMDiT and both text encoders together from the flow-matching loss (x_t = (1 - sigma) x0 + sigma noise, "
      "target noise - x0, sigma logit-normal(0, 1), timestep sigma * 1000) plus %g x the probes' loss: %d steps of "
      "batch %d (%s images; the first %s steps of a %s-step schedule), AdamW lr %g (warm-up %d, cosine to 10%% over the schedule; the text encoders at %g x that rate, so the "
      "features the MMDiT learns to read stay put), grad clip 1, EMA %g (the EMA weights ship). "
      "bf16 autocast for the matrix products; the context's all-zero rows folded into one attention key "
      "(tools/train-shapes/models.py, checked at start)." % (
          cfg["aux_weight"], cfg["dit_stop"], cfg["batch"], format(cfg["dit_stop"] * cfg["batch"], ","),
          format(cfg["dit_stop"], ","), format(cfg["dit_steps"], ","),
          cfg["lr"], cfg["warmup"], cfg.get("text_lr_mult", 1.0), cfg["ema"]))
    par = figs.get("parity")
    w("4. Weights rounded to float16, exported with torch.onnx.export (opset 17), outputs compared with "
      "onnxruntime-node (%s), then measured through the engine.\n" % (
          "worst relative max-abs difference %.1e over %d graph runs" % (par["worst_rel"], par["cases"]) if par
          else "not run"))
    w("Time: **%.1f min** of compute for the whole run (VAE %.1f, text encoders %.1f, MMDiT %.1f, sampler choice "
      "and torch evaluation %.1f, export %.1f, ONNX checks and engine figures %.1f) on %s, %s cores, CPU only "
      "(no GPU was available for this issue), %d torch threads, PyTorch %s, seed 0; the machine was shared with "
      "other work, so wall time per step varied. Checkpoints every %d s; an interrupted run resumes where it "
      "stopped.\n" % (
          timings["total"] / 60, mins("vae"), mins("text"), mins("dit"), mins("torch_eval"), mins("export"),
          mins("engine_eval"), hw["cpu"], hw["cores"], hw["threads_used"], hw["torch"], cfg["checkpoint_every_s"]))
    w("## How to retrain\n")
    w("```\n/usr/bin/python3 tools/train-emoji/train.py\n```\n")
    w("Fetches the data with `npm pack` (checked by sha256), trains, exports to `models/emoji`, writes "
      "`tools/train-emoji/reference/` and `token-fixtures.json`, and measures the pack through the engine. Run it "
      "again after an interruption to resume. Deterministic for a given seed, thread count (2) and machine; see "
      "`tools/train-emoji/README.md`.\n")
    w("## Figures\n")
    w("Recognisable, measured without a human eye (`tools/train-emoji/eval-emoji.json`, `test/emoji-recognition.test.ts`, "
      "`npm run bench`): for each of %d common emoji (animals, food, plants, weather, vehicles, objects, faces) the "
      "engine renders \"a <short name>\" at seed %d with the defaults above; the render's 32x32 thumbnail (mean of "
      "each 2x2 block) is compared with the thumbnails of all %s training images by **mean squared error over the "
      "32x32x3 RGB values**; a hit when the named emoji is the nearest (top-1) or among the nearest 5 (top-5).\n" % (
          len(spec["items"]), spec["seed"], format(n_images, ",")))
    if eng:
        w("| | top-1 | top-5 |\n|---|---|---|")
        w("| all %d prompts | **%s** | **%s** |" % (eng["count"], pct(eng["top1"]), pct(eng["top5"])))
        for cat, v in eng["perCategory"].items():
            w("| %s (%d) | %s | %s |" % (cat, v["count"], pct(v["top1"]), pct(v["top5"])))
        w("")
        m = eng["morph"]
        w("Morph \"%s\" -> \"%s\" (%d frames, seed %d): the first frame's nearest training image is %s, the last's %s "
          "(wanted: %s, %s).\n" % (m["prompts"][0], m["prompts"][1], m["frames"], spec["seed"], m["summary"]["first"],
                                  m["summary"]["last"], spec["morph"]["first"], spec["morph"]["last"]))
        misses = [x for x in eng["items"] if x["rank"] > 0]
        if misses:
            w("Not nearest (rank of the named emoji, nearest instead): " + "; ".join(
                "%s (%d, %s)" % (x["prompt"], x["rank"], x["nearest"]) for x in misses) + ".\n")
        w("Through PyTorch (bf16) before export, same prompts and seed: top-1 %s, top-5 %s.\n" % (
            pct(figs["torch"]["top1"]), pct(figs["torch"]["top5"])))
        w("Rendering the %d prompts through onnxruntime-node (%s): %.1f s.\n" % (
            eng["count"], eng["threads"], eng["renderMs"] / 1000))
        w("![samples](samples.png)\n")
        w("The %d evaluation prompts at seed %d, in the order of eval-emoji.json.\n" % (len(spec["items"]), spec["seed"]))
        w("![morph](morph.png)\n")
        w("\"a dog\" -> \"a cat\", %d frames.\n" % m["frames"])
    else:
        w("Not measured through the engine in this run (see the training log).\n")
    w("## Files\n")
    w("| file | bytes |\n|---|---|")
    for rel, size in files:
        w("| %s | %s |" % (rel, format(size, ",")))
    w("| **total** | **%s** |\n" % format(sum(s for _, s in files), ","))
    w("## Credits and licence\n")
    w("- Images: [Noto Emoji](https://github.com/googlefonts/noto-emoji) v2.048 by Google, Apache License 2.0, as packaged "
      "in [emoji-datasource-google](https://www.npmjs.com/package/emoji-datasource-google) 16.0.0 by Cal Henderson "
      "(MIT), which also gives the names, short names and categories.")
    w("- Keywords: [emojibase-data](https://www.npmjs.com/package/emojibase-data) 16.0.3 by Miles Johnson (MIT), "
      "labels and tags.")
    w("- The weights in this folder were trained from those images by `tools/train-emoji/train.py`; they are a "
      "derivative of the Noto Emoji images and are distributed under the Apache License 2.0 with this notice. The "
      "data set itself is not in this repository; `tools/train-emoji/reference/` holds 32x32 thumbnails of it for "
      "the tests (same licence).\n")
    w("## Limitations\n")
    w("64x64 only (the transformer's positional embedding is fixed to the 8x8 latent); one emoji per picture, on "
      "white; it knows its captions' words (other words tokenize to characters and mean nothing to it); faces, "
      "flags, clocks and other families of near-identical emoji blur together more than animals or food do; "
      "no people beyond the emoji set's, no photographs, no text.")
    return "\n".join(lines) + "\n"
