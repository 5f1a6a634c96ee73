"""ONNX export in the Optimum SD3 layout + configs, and the torch-vs-onnxruntime-node check."""
import copy
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import MAX_LEN, build_conditioning

OPSET = 17
DIFFUSERS_VERSION = "0.29.0"


# ---------------------------------------------------------------------------------------------
# float16 weight storage: weights are float16 initializers cast to float32 in the graph
# (onnxruntime folds the casts at load time), so inputs, outputs and arithmetic stay float32.
class HalfLinear(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.register_buffer("weight", lin.weight.detach().half())
        self.register_buffer("bias", None if lin.bias is None else lin.bias.detach().clone())

    def forward(self, x):
        return F.linear(x, self.weight.float(), self.bias)


class HalfConv2d(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.register_buffer("weight", conv.weight.detach().half())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.stride, self.padding = conv.stride, conv.padding

    def forward(self, x):
        return F.conv2d(x, self.weight.float(), self.bias, self.stride, self.padding)


class HalfEmbedding(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.register_buffer("weight", emb.weight.detach().half())

    def forward(self, ids):
        return F.embedding(ids, self.weight.float())


def half_storage(module):
    m = copy.deepcopy(module)

    def rec(parent):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                setattr(parent, name, HalfLinear(child))
            elif isinstance(child, nn.Conv2d):
                setattr(parent, name, HalfConv2d(child))
            elif isinstance(child, nn.Embedding):
                setattr(parent, name, HalfEmbedding(child))
            else:
                rec(child)

    rec(m)
    m.eval()
    return m


# ---------------------------------------------------------------------------------------------
class TextEncoderOnnx(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, input_ids):
        text_embeds, last, hs = self.enc(input_ids)
        return tuple([text_embeds, last] + list(hs))


class TransformerOnnx(nn.Module):
    def __init__(self, dit):
        super().__init__()
        self.dit = dit

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep):
        return self.dit(hidden_states, encoder_hidden_states, pooled_projections, timestep)


def _export(module, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, path, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=False)


def _write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def export_pack(out, cfg, tok, enc1, enc2, dit, vae_dec, scale, shift, defaults, name="shapes"):
    """Writes the whole pack to `out`. Returns the float16-storage modules that were exported."""
    os.makedirs(out, exist_ok=True)
    h1, h2, ht, hv = half_storage(enc1), half_storage(enc2), half_storage(dit), half_storage(vae_dec)
    C, J = cfg["latent_channels"], cfg["joint_dim"]
    ids = torch.tensor([tok.encode("a red circle", tok.eos_id), tok.encode("", tok.eos_id)], dtype=torch.int64)

    for folder, enc, henc, pad_id, pad_tok in (("text_encoder", enc1, h1, tok.eos_id, "<|endoftext|>"),
                                               ("text_encoder_2", enc2, h2, 0, "!")):
        n = enc.num_layers
        outs = ["text_embeds", "last_hidden_state"] + ["hidden_states.%d" % i for i in range(n + 1)]
        _export(TextEncoderOnnx(henc), (ids,), os.path.join(out, folder, "model.onnx"), ["input_ids"], outs,
                dict({"input_ids": {0: "batch_size"}}, **{o: {0: "batch_size"} for o in outs}))
        _write_json(os.path.join(out, folder, "config.json"), {
            "_name_or_path": "%s/%s" % (name, folder),
            "architectures": ["CLIPTextModelWithProjection"],
            "model_type": "clip_text_model",
            "hidden_size": enc.d,
            "intermediate_size": 4 * enc.d,
            "num_hidden_layers": n,
            "num_attention_heads": enc.heads,
            "projection_dim": enc.proj_dim,
            "vocab_size": tok.vocab_size,
            "max_position_embeddings": MAX_LEN,
            "hidden_act": enc.act,
            "layer_norm_eps": 1e-5,
            "attention_dropout": 0.0,
            "bos_token_id": tok.bos_id,
            "eos_token_id": tok.eos_id,
            "pad_token_id": pad_id,
            "torch_dtype": "float32",
        })
        tok.save(os.path.join(out, folder.replace("text_encoder", "tokenizer")), pad_tok)

    B = 2
    x = torch.randn(B, C, 8, 8)
    ctx = torch.randn(B, 2 * MAX_LEN, J)
    pooled = torch.randn(B, dit.text_embedder.linear_1.in_features)
    t = torch.tensor([1000.0, 500.0])
    _export(TransformerOnnx(ht), (x, ctx, pooled, t), os.path.join(out, "transformer", "model.onnx"),
            ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], ["out_hidden_states"],
            {"hidden_states": {0: "batch_size"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
             "pooled_projections": {0: "batch_size"}, "timestep": {0: "batch_size"},
             "out_hidden_states": {0: "batch_size"}})
    _write_json(os.path.join(out, "transformer", "config.json"), {
        "_class_name": "SD3Transformer2DModel",
        "_diffusers_version": DIFFUSERS_VERSION,
        "sample_size": 8,
        "patch_size": 2,
        "in_channels": C,
        "out_channels": C,
        "num_layers": cfg["layers"],
        "attention_head_dim": cfg["hidden"] // cfg["heads"],
        "num_attention_heads": cfg["heads"],
        "joint_attention_dim": J,
        "caption_projection_dim": cfg["hidden"],
        "pooled_projection_dim": cfg["enc1"]["proj"] + cfg["enc2"]["proj"],
        "pos_embed_max_size": 4,
        "qk_norm": "rms_norm" if cfg.get("qk_norm") else None,
    })

    _export(hv, (torch.randn(1, C, 8, 8),), os.path.join(out, "vae_decoder", "model.onnx"), ["latent_sample"],
            ["sample"], {"latent_sample": {0: "batch_size", 2: "height", 3: "width"},
                         "sample": {0: "batch_size", 2: "height", 3: "width"}})
    _write_json(os.path.join(out, "vae_decoder", "config.json"), {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": DIFFUSERS_VERSION,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": C,
        "block_out_channels": list(cfg["vae_channels"]),
        "act_fn": "silu",
        "sample_size": 64,
        "scaling_factor": scale,
        "shift_factor": shift,
        "force_upcast": False,
    })

    _write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "FlowMatchEulerDiscreteScheduler",
        "_diffusers_version": DIFFUSERS_VERSION,
        "num_train_timesteps": 1000,
        "shift": cfg["shift"],
    })
    _write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusion3Pipeline",
        "_diffusers_version": DIFFUSERS_VERSION,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_3": [None, None],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "tokenizer_3": [None, None],
        "transformer": ["diffusers", "SD3Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    })
    _write_json(os.path.join(out, "latentwalk.json"), {"name": name, "defaults": defaults})
    return h1, h2, ht, hv


# ---------------------------------------------------------------------------------------------
# torch vs onnxruntime-node
def _save(dirpath, name, arr):
    arr = np.ascontiguousarray(arr)
    fn = name + ".bin"
    arr.tofile(os.path.join(dirpath, fn))
    return dict(file=fn, dims=list(arr.shape), dtype="int64" if arr.dtype == np.int64 else "float32")


def write_check_cases(dirpath, out, tok, cfg, h1, h2, ht, hv, prompts):
    """Reference inputs/outputs computed with the exported (float16-storage) torch modules; each graph is
    checked at batch len(prompts) (or 3) and at batch 1 with one row of the same inputs."""
    os.makedirs(dirpath, exist_ok=True)
    cases = []
    g = torch.Generator().manual_seed(1234)
    C, J = cfg["latent_channels"], cfg["joint_dim"]
    with torch.no_grad():
        for folder, enc, pad in (("text_encoder", h1, tok.eos_id), ("text_encoder_2", h2, 0)):
            ids = torch.tensor([tok.encode(p, pad) for p in prompts], dtype=torch.int64)
            for tag, sel in (("b%d" % len(prompts), slice(None)), ("b1", slice(1, 2))):
                te, last, hs = enc(ids[sel])
                outs = dict(text_embeds=te, last_hidden_state=last)
                outs.update({"hidden_states.%d" % i: h for i, h in enumerate(hs)})
                key = "%s_%s" % (folder, tag)
                cases.append(dict(model=os.path.join(out, folder, "model.onnx"), name=key,
                                  inputs={"input_ids": _save(dirpath, key + "_in", ids[sel].numpy())},
                                  outputs={k: _save(dirpath, "%s_%s" % (key, k), v.numpy()) for k, v in outs.items()}))
        ids1 = torch.tensor([tok.encode(p, tok.eos_id) for p in prompts], dtype=torch.int64)
        ids2 = torch.tensor([tok.encode(p, 0) for p in prompts], dtype=torch.int64)
        ctx, pooled = build_conditioning(h1, h2, ids1, ids2, J)
        B = len(prompts)
        x = torch.randn(B, C, 8, 8, generator=g)
        t = torch.linspace(1000.0, 20.0, B)
        for tag, sel in (("b%d" % B, slice(None)), ("b1", slice(2, 3))):
            o = ht(x[sel], ctx[sel], pooled[sel], t[sel])
            key = "transformer_" + tag
            cases.append(dict(model=os.path.join(out, "transformer", "model.onnx"), name=key, inputs={
                "hidden_states": _save(dirpath, key + "_x", x[sel].numpy()),
                "encoder_hidden_states": _save(dirpath, key + "_ctx", ctx[sel].numpy()),
                "pooled_projections": _save(dirpath, key + "_pool", pooled[sel].numpy()),
                "timestep": _save(dirpath, key + "_t", t[sel].numpy())},
                outputs={"out_hidden_states": _save(dirpath, key + "_out", o.numpy())}))
        z = torch.randn(3, C, 8, 8, generator=g)
        for tag, sel in (("b3", slice(None)), ("b1", slice(0, 1))):
            key = "vae_decoder_" + tag
            cases.append(dict(model=os.path.join(out, "vae_decoder", "model.onnx"), name=key,
                              inputs={"latent_sample": _save(dirpath, key + "_z", z[sel].numpy())},
                              outputs={"sample": _save(dirpath, key + "_out", hv(z[sel]).numpy())}))
    return cases


def save_bin(dirpath, name, arr):
    return _save(dirpath, name, arr)


def run_node(job_path, repo_root):
    """Runs verify_onnx.mjs on a job file; returns its JSON report (None when node cannot run)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_onnx.mjs")
    cmd = ["node", script, job_path]
    try:
        res = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("node check could not run: %s" % e)
        return None
    if res.returncode != 0:
        print(res.stdout[-4000:])
        print(res.stderr[-4000:])
        raise RuntimeError("onnxruntime-node check failed")
    return json.loads(res.stdout.strip().splitlines()[-1])
