#!/usr/bin/python3
"""Train and export the "shapes" model pack (toy SD3 family) in one deterministic command.

    /usr/bin/python3 tools/train-shapes/train.py --out models/shapes [--seed 0]

Phases: tokenizer -> VAE -> MMDiT + two text encoders -> adherence eval -> ONNX export -> ONNX check (node).
See README.md next to this file.
"""
import os
import sys

# libgomp reads this when torch loads: sleeping (not spinning) waits keep 2-thread runs fast when
# another process shares the cores (spinning threads slowed steps down 10-30x in that case).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from evaluate import adherence_prompts, run_adherence  # noqa: E402
from export import export_pack, run_node, save_bin, write_check_cases  # noqa: E402
from report import write_reports  # noqa: E402
from models import ClipTextEncoder, MMDiT, VaeDecoder, VaeEncoder, check_dedup_equivalence, used_length  # noqa: E402,E501
from sampler import Pipeline  # noqa: E402
from shapes_data import ATTRIBUTE_CLASSES, CAPTION_WORDS, ShapeStream, caption_attributes, to_tensor_range  # noqa: E402,E501
from tokenizer import ShapesTokenizer  # noqa: E402

THREADS = 2

CONFIG = dict(
    latent_channels=8,
    vae_channels=[16, 32, 64, 128],
    vae_steps=1500,
    vae_batch=32,
    vae_lr=2e-3,
    vae_latent_noise=0.25,
    vae_latent_l2=1e-3,
    vae_edge_weight=8.0,
    vae_rgb_align=1.0,
    enc1=dict(d=64, layers=2, heads=2, proj=64, act="quick_gelu"),
    enc2=dict(d=96, layers=2, heads=3, proj=96, act="gelu"),
    joint_dim=256,
    hidden=128,
    layers=4,
    heads=4,
    qk_norm=True,
    dit_steps=3000,
    batch=64,
    lr=6e-4,
    warmup=100,
    weight_decay=0.0,
    ema=0.999,
    cfg_dropout=0.1,
    text_steps=300,
    text_lr=2e-3,
    aux_weight=0.1,
    shift=1.0,
    steps=20,
    guidance=4.0,
    guidance_candidates=[3.0, 4.0, 5.0, 6.0, 7.0],
    frames_batch=4,
)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def cosine_lr(step, total, base, warmup, floor=0.1):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


# ---------------------------------------------------------------------------------------------
def train_vae(cfg, seed):
    torch.manual_seed(seed * 1000 + 11)
    C = cfg["latent_channels"]
    enc, dec = VaeEncoder(C, cfg["vae_channels"]), VaeDecoder(C, cfg["vae_channels"])
    enc = enc.to(memory_format=torch.channels_last)
    dec = dec.to(memory_format=torch.channels_last)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=cfg["vae_lr"])
    stream = ShapeStream(seed * 1000 + 1)
    gen = torch.Generator().manual_seed(seed * 1000 + 12)
    n = cfg["vae_steps"]
    t0 = time.time()
    run = 0.0
    for step in range(n):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, n, cfg["vae_lr"], 50, floor=0.05)
        imgs, _, _ = stream.batch(cfg["vae_batch"])
        x = torch.from_numpy(to_tensor_range(imgs)).contiguous(memory_format=torch.channels_last)
        # Edge pixels (where a 3x3 box blur changes the image) weigh more: they carry the shape.
        edge = ((x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).abs().sum(1, keepdim=True) > 0.02).float()
        w = 1.0 + cfg["vae_edge_weight"] * edge
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = enc(x)
            # Noise relative to the latent's own spread (scale-invariant): the decoder learns to turn
            # slightly-off latents into clean shapes, which is what diffusion samples are.
            zf = z.float()
            zn = zf + cfg["vae_latent_noise"] * zf.detach().std() * torch.randn(z.shape, generator=gen)
            y = dec(zn).float()
        z = z.float()
        rec = (w * ((y - x).abs() + (y - x) ** 2)).mean() / w.mean()
        loss = rec + cfg["vae_latent_l2"] * (z ** 2).mean()
        if cfg["vae_rgb_align"]:
            # The first three latent channels are held to the 8x8 box-filtered picture: an image-like,
            # smooth latent in which a colour is a colour, which the small MMDiT learns far faster.
            loss = loss + cfg["vae_rgb_align"] * ((z[:, :3] - F.avg_pool2d(x, 8)) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        run = 0.95 * run + 0.05 * rec.item() if step else rec.item()
        if (step + 1) % 50 == 0 or step == n - 1:
            el = time.time() - t0
            log("vae step %d/%d rec %.4f  %.0fs (eta %.0fs)" % (step + 1, n, run, el, el / (step + 1) * (n - step - 1)))
    enc = enc.to(memory_format=torch.contiguous_format)
    dec = dec.to(memory_format=torch.contiguous_format)
    enc.eval()
    dec.eval()
    # SD3 convention: z = (latent - shift) * scale has mean 0 / std 1 over the training distribution.
    stream = ShapeStream(seed * 1000 + 5)
    with torch.no_grad():
        lats = torch.cat([enc(torch.from_numpy(to_tensor_range(stream.batch(256)[0]))) for _ in range(8)])
    shift = float(lats.mean())
    scale = float(1.0 / lats.std())
    return enc, dec, scale, shift


# ---------------------------------------------------------------------------------------------
def make_text_encoders(cfg, vocab_size):
    e1, e2 = cfg["enc1"], cfg["enc2"]
    enc1 = ClipTextEncoder(vocab_size, e1["d"], e1["layers"], e1["heads"], e1["proj"], e1["act"])
    enc2 = ClipTextEncoder(vocab_size, e2["d"], e2["layers"], e2["heads"], e2["proj"], e2["act"])
    return enc1, enc2


def make_dit(cfg):
    pooled = cfg["enc1"]["proj"] + cfg["enc2"]["proj"]
    return MMDiT(cfg["latent_channels"], 8, cfg["hidden"], cfg["layers"], cfg["heads"], cfg["joint_dim"], pooled,
                 qk_norm=cfg["qk_norm"])


class AuxHeads(torch.nn.Module):
    """Training-only linear probes: from each text encoder's pooled output (text_embeds) and from its
    EOS row of hidden_states.(N-1) (a context row the MMDiT sees), predict which shape, colour,
    background, size and position the caption names. Their loss teaches the from-scratch text encoders
    to encode the caption in a few hundred cheap steps, before and while the MMDiT learns to use it.
    Not exported."""

    def __init__(self, dims):
        super().__init__()
        self.heads = torch.nn.ModuleDict()
        for i, d in enumerate(dims):
            for k, v in ATTRIBUTE_CLASSES.items():
                self.heads["%s_%d" % (k, i)] = torch.nn.Linear(d, len(v) + 1)

    def forward(self, feats, targets):
        loss, correct, n = 0.0, 0, 0
        for i, f in enumerate(feats):
            for k in ATTRIBUTE_CLASSES:
                logits = self.heads["%s_%d" % (k, i)](f.float())
                loss = loss + F.cross_entropy(logits, targets[k])
                correct += int((logits.argmax(-1) == targets[k]).sum())
                n += targets[k].numel()
        return loss, correct / n


def _text_features(enc, ids):
    pooled, _, hs = enc(ids)
    eos = ids.argmax(-1)
    eos_row = hs[-2][torch.arange(ids.shape[0]), eos]
    return pooled, hs[-2], eos_row


def _targets(caps):
    rows = [caption_attributes(c) for c in caps]
    return {k: torch.tensor([r[k] for r in rows], dtype=torch.int64) for k in ATTRIBUTE_CLASSES}


def pretrain_text(cfg, seed, tok, enc1, enc2, aux):
    """Text encoders + probes only (no MMDiT): cheap, and the MMDiT then starts from informative
    conditioning instead of noise."""
    params = list(enc1.parameters()) + list(enc2.parameters()) + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=cfg["text_lr"], weight_decay=0.0)
    stream = ShapeStream(seed * 1000 + 7)
    rng = np.random.RandomState(seed * 1000 + 8)
    n, B = cfg["text_steps"], cfg["batch"]
    t0 = time.time()
    for step in range(n):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, n, cfg["text_lr"], 20)
        caps = [stream.caption_only() for _ in range(B)]
        caps = ["" if d else c for c, d in zip(caps, rng.random_sample(B) < cfg["cfg_dropout"])]
        ids1 = torch.tensor([tok.encode(c, tok.eos_id) for c in caps], dtype=torch.int64)
        ids2 = torch.tensor([tok.encode(c, 0) for c in caps], dtype=torch.int64)
        L = used_length(ids1, ids2)
        ids1, ids2 = ids1[:, :L], ids2[:, :L]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            p1, _, e1 = _text_features(enc1, ids1)
            p2, _, e2 = _text_features(enc2, ids2)
        loss, acc = aux([p1, p2, e1, e2], _targets(caps))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 50 == 0 or step == n - 1:
            log("text step %d/%d aux loss %.3f acc %.3f  %.0fs" % (step + 1, n, loss.item(), acc, time.time() - t0))


def train_dit(cfg, seed, tok, vae_enc, scale, shift, eval_cb=None):
    torch.manual_seed(seed * 1000 + 21)
    enc1, enc2 = make_text_encoders(cfg, tok.vocab_size)
    dit = make_dit(cfg)
    diff = check_dedup_equivalence(dit, enc1, enc2, tok.vocab_size, cfg["joint_dim"])
    log("154-row context vs folded zero rows: relative max difference %.1e" % diff)
    assert diff < 1e-4, diff
    aux = AuxHeads([cfg["enc1"]["proj"], cfg["enc2"]["proj"], cfg["enc1"]["d"], cfg["enc2"]["d"]])
    if cfg["text_steps"]:
        pretrain_text(cfg, seed, tok, enc1, enc2, aux)
    modules = torch.nn.ModuleList([enc1, enc2, dit])
    params = list(modules.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=cfg["weight_decay"]),
                             dict(params=no_decay, weight_decay=0.0),
                             dict(params=list(aux.parameters()), weight_decay=0.0)], lr=cfg["lr"], betas=(0.9, 0.99))
    ema = copy.deepcopy(modules)
    for p in ema.parameters():
        p.requires_grad_(False)
    stream = ShapeStream(seed * 1000 + 2)
    rng = np.random.RandomState(seed * 1000 + 3)
    gen = torch.Generator().manual_seed(seed * 1000 + 4)
    n, B, J = cfg["dit_steps"], cfg["batch"], cfg["joint_dim"]
    t0 = time.time()
    run = None
    for step in range(n):
        lr = cosine_lr(step, n, cfg["lr"], cfg["warmup"])
        for g in opt.param_groups:
            g["lr"] = lr
        imgs, caps, _ = stream.batch(B)
        drop = rng.random_sample(B) < cfg["cfg_dropout"]
        caps = ["" if d else c for c, d in zip(caps, drop)]
        with torch.no_grad():
            z0 = (vae_enc(torch.from_numpy(to_tensor_range(imgs))) - shift) * scale
        ids1 = torch.tensor([tok.encode(c, tok.eos_id) for c in caps], dtype=torch.int64)
        ids2 = torch.tensor([tok.encode(c, 0) for c in caps], dtype=torch.int64)
        # Only the first L tokens matter (the encoders zero the padding rows; see build_conditioning_dedup).
        L = used_length(ids1, ids2)
        ids1, ids2 = ids1[:, :L], ids2[:, :L]
        mult = torch.ones(L + 1)
        mult[-1] = 2 * 77 - L
        noise = torch.randn(z0.shape, generator=gen)
        sigma = torch.sigmoid(torch.randn(B, generator=gen))  # SD3 logit-normal(0, 1)
        s4 = sigma.reshape(B, 1, 1, 1)
        xt = (1 - s4) * z0 + s4 * noise
        target = noise - z0
        with torch.autocast("cpu", dtype=torch.bfloat16):
            p1, h1, e1 = _text_features(enc1, ids1)
            p2, h2, e2 = _text_features(enc2, ids2)
            ctx = F.pad(torch.cat([h1, h2], dim=-1), (0, J - h1.shape[-1] - h2.shape[-1]))
            ctx = torch.cat([ctx, torch.zeros_like(ctx[:, :1])], dim=1)  # + the 154 - L zero rows, folded
            pooled = torch.cat([p1, p2], dim=-1)
            v = dit(xt, ctx, pooled, sigma * 1000.0, mult)
        loss = F.mse_loss(v.float(), target)
        if cfg["aux_weight"]:
            aux_loss, _ = aux([p1, p2, e1, e2], _targets(caps))
            loss_total = loss + cfg["aux_weight"] * aux_loss
        else:
            loss_total = loss
        opt.zero_grad(set_to_none=True)
        loss_total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(cfg["ema"], (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), params):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        if (step + 1) % 50 == 0 or step == n - 1:
            el = time.time() - t0
            log("dit step %d/%d loss %.4f lr %.2e  %.0fs (eta %.0fs)" % (
                step + 1, n, run, lr, el, el / (step + 1) * (n - step - 1)))
        if eval_cb is not None and (step + 1) % 500 == 0 and step + 1 < n:
            eval_cb(step + 1, ema)
    ema.eval()
    return ema[0], ema[1], ema[2]


def choose_guidance(cfg, tok, mods, vae_dec, scale, shift, items):
    """The pack's default guidance: the candidate with the best colour + shape adherence on held-out seeds
    (the adherence prompts with seeds that the fixed list does not use), so the fixed list stays a test."""
    cands = cfg.get("guidance_candidates") or [cfg["guidance"]]
    if len(cands) == 1:
        cfg["guidance"] = cands[0]
        return
    pipe = Pipeline(tok, mods[0], mods[1], mods[2], vae_dec, cfg["joint_dim"], scale, shift,
                    cfg["latent_channels"], dedup=True, autocast=True)
    sweep = {}
    for g in cands:
        c = s = 0.0
        for off in VALIDATION_SEED_OFFSETS:
            summ, _, _ = run_adherence(pipe, items, cfg["steps"], g, cfg["shift"], seed_offset=off)
            c += summ["colour"] / len(VALIDATION_SEED_OFFSETS)
            s += summ["shape"] / len(VALIDATION_SEED_OFFSETS)
        sweep[str(g)] = [round(c, 4), round(s, 4)]
        log("guidance %.1f on held-out seeds: colour %.3f shape %.3f" % (g, c, s))
    best = max(cands, key=lambda g: (sum(sweep[str(g)]), -abs(g - cfg["guidance"])))
    cfg["guidance_sweep"] = sweep
    cfg["guidance"] = best
    log("default guidance: %.1f" % best)


VALIDATION_SEED_OFFSETS = (50000, 60000)


def round_weights_fp16(*modules):
    """The pack stores Linear/Conv/Embedding weights as float16: evaluate exactly what ships."""
    with torch.no_grad():
        for m in modules:
            for sub in m.modules():
                if isinstance(sub, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Embedding)):
                    sub.weight.copy_(sub.weight.half().float())


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "shapes"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/train-shapes-work", help="scratch dir (checkpoints)")
    ap.add_argument("--reuse-vae", action="store_true", help="tuning: reuse the VAE checkpoint in --work")
    ap.add_argument("--reuse-dit", action="store_true", help="tuning: reuse the MMDiT checkpoint in --work")
    ap.add_argument("--set", action="append", default=[], help="tuning: override a CONFIG key, k=json")
    ap.add_argument("--eval-every", action="store_true", help="tuning: quick eval every 500 steps")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--threads", type=int, default=THREADS, help="tuning only; the pack is made with 2")
    args = ap.parse_args()

    cfg = dict(CONFIG)
    for kv in args.set:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.work, exist_ok=True)
    timings = {}
    reused = []
    T0 = time.time()
    log("config %s" % json.dumps(cfg))

    tok = ShapesTokenizer(CAPTION_WORDS)
    log("tokenizer: vocab %d, %d merges" % (tok.vocab_size, len(tok.merges)))

    # ---- VAE
    t = time.time()
    vae_ck = os.path.join(args.work, "vae.pt")
    if args.reuse_vae and os.path.exists(vae_ck):
        ck = torch.load(vae_ck)
        vae_enc = VaeEncoder(cfg["latent_channels"], cfg["vae_channels"])
        vae_dec = VaeDecoder(cfg["latent_channels"], cfg["vae_channels"])
        vae_enc.load_state_dict(ck["enc"])
        vae_dec.load_state_dict(ck["dec"])
        scale, shift = ck["scale"], ck["shift"]
        vae_enc.eval()
        vae_dec.eval()
        timings["vae"] = ck.get("seconds", 0.0)
        reused.append("vae")
        log("reused VAE from %s" % vae_ck)
    else:
        vae_enc, vae_dec, scale, shift = train_vae(cfg, args.seed)
        timings["vae"] = time.time() - t
        torch.save(dict(enc=vae_enc.state_dict(), dec=vae_dec.state_dict(), scale=scale, shift=shift,
                        seconds=timings["vae"]), vae_ck)
    for p in list(vae_enc.parameters()) + list(vae_dec.parameters()):
        p.requires_grad_(False)
    log("VAE done in %.0fs: scaling_factor %.4f shift_factor %.4f" % (timings["vae"], scale, shift))
    vae_recon_check(vae_enc, vae_dec, args.seed)

    items = adherence_prompts()

    def quick_eval(step, mods):
        te = time.time()
        pipe = Pipeline(tok, mods[0], mods[1], mods[2], vae_dec, cfg["joint_dim"], scale, shift,
                        cfg["latent_channels"], dedup=True, autocast=True)
        for g in (cfg["guidance"],):
            summ, _, _ = run_adherence(pipe, items, cfg["steps"], g, cfg["shift"])
            log("eval@%d g=%.1f: colour %.2f shape %.2f bg %.2f (%s)  [%.0fs]" % (
                step, g, summ["colour"], summ["shape"], summ["background"],
                " ".join("%s %.1f" % (k, v["shape"]) for k, v in summ["per_shape"].items()), time.time() - te))

    # ---- MMDiT + text encoders
    dit_ck = os.path.join(args.work, "dit.pt")
    if args.reuse_dit and os.path.exists(dit_ck):
        ck = torch.load(dit_ck)
        enc1, enc2 = make_text_encoders(cfg, tok.vocab_size)
        dit = make_dit(cfg)
        enc1.load_state_dict(ck["enc1"])
        enc2.load_state_dict(ck["enc2"])
        dit.load_state_dict(ck["dit"])
        timings["dit"] = ck.get("seconds", 0.0)
        reused.append("dit")
        log("reused MMDiT from %s" % dit_ck)
    else:
        t = time.time()
        enc1, enc2, dit = train_dit(cfg, args.seed, tok, vae_enc, scale, shift,
                                    eval_cb=quick_eval if args.eval_every else None)
        timings["dit"] = time.time() - t
        log("MMDiT done in %.0fs" % timings["dit"])
        torch.save(dict(enc1=enc1.state_dict(), enc2=enc2.state_dict(), dit=dit.state_dict(), cfg=cfg,
                        seconds=timings["dit"]), dit_ck)
    for m in (enc1, enc2, dit):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    round_weights_fp16(enc1, enc2, dit, vae_dec)
    t = time.time()
    choose_guidance(cfg, tok, (enc1, enc2, dit), vae_dec, scale, shift, items)
    quick_eval(cfg["dit_steps"], (enc1, enc2, dit))
    timings["torch_eval"] = time.time() - t
    if args.no_export:
        log("total %.0fs" % (time.time() - T0))
        return

    # ---- export + checks through onnxruntime-node
    out = os.path.abspath(args.out)
    t = time.time()
    defaults = dict(width=64, height=64, steps=cfg["steps"], guidance=cfg["guidance"], fps=10, frames=16,
                    batchSize=cfg["frames_batch"], displayScale=4)
    h1, h2, ht, hv = export_pack(out, cfg, tok, enc1, enc2, dit, vae_dec, scale, shift, defaults)
    timings["export"] = time.time() - t
    log("exported to %s in %.0fs" % (out, timings["export"]))
    t = time.time()
    finish = check_and_score(args, cfg, tok, out, h1, h2, ht, hv, scale, shift, items)
    timings["onnx_check"] = time.time() - t
    # A reused phase counts with the time it took when it was trained (saved in its checkpoint).
    timings["total"] = time.time() - T0 + sum(timings[k] for k in reused)
    write_reports(args, cfg, tok, out, finish, timings, (enc1, enc2, dit, vae_enc, vae_dec), scale, shift)
    log("done in %.0fs (%.1f min)" % (timings["total"], timings["total"] / 60))


def check_and_score(args, cfg, tok, out, h1, h2, ht, hv, scale, shift, items):
    from evaluate import score
    from sampler import flow_match_sigmas
    from shapes_data import from_tensor_range
    chk = os.path.join(args.work, "check")
    if os.path.isdir(chk):
        for f in os.listdir(chk):
            os.remove(os.path.join(chk, f))
    os.makedirs(chk, exist_ok=True)
    cases = write_check_cases(chk, out, tok, cfg, h1, h2, ht, hv,
                              ["a red circle", "", "a big blue square on a white background, top left"])
    pipe = Pipeline(tok, h1, h2, ht, hv, cfg["joint_dim"], scale, shift, cfg["latent_channels"])
    seeds_per_prompt = 3
    all_items = [dict(it, seed=it["seed"] + 1000 * k) for k in range(seeds_per_prompt) for it in items]
    noise = pipe.noise([it["seed"] for it in all_items]).numpy()
    common = dict(pack=out, J=cfg["joint_dim"], C=cfg["latent_channels"], L1=cfg["enc1"]["layers"],
                  L2=cfg["enc2"]["layers"], scale=scale, shift=shift, guidance=cfg["guidance"],
                  sigmas=[float(v) for v in flow_match_sigmas(cfg["steps"], cfg["shift"])],
                  negative=[tok.encode("", tok.eos_id), tok.encode("", 0)])
    renders = [
        dict(common, name="adherence", batchSize=16, out="adherence_images.bin",
             noise=save_bin(chk, "adherence_noise", noise),
             items=[[tok.encode(it["prompt"], tok.eos_id), tok.encode(it["prompt"], 0)] for it in all_items]),
        dict(common, name="morph", batchSize=cfg["frames_batch"], out="morph_images.bin",
             noise=save_bin(chk, "morph_noise", pipe.noise([MORPH_SEED]).numpy()),
             morph=dict(a=[tok.encode(MORPH[0], tok.eos_id), tok.encode(MORPH[0], 0)],
                        b=[tok.encode(MORPH[1], tok.eos_id), tok.encode(MORPH[1], 0)], frames=16)),
    ]
    job = os.path.join(chk, "job.json")
    with open(job, "w") as f:
        json.dump(dict(cases=cases, renders=renders), f)
    rep = run_node(job, os.path.join(HERE, "..", ".."))
    res = dict(node=rep is not None)
    if rep is None:
        log("WARNING: node/onnxruntime-node unavailable: ONNX parity and ORT adherence not checked")
        return res
    worst = max(o["rel"] for c in rep["cases"] for o in c["outputs"].values())
    log("ONNX parity: %d graph runs, worst relative max-abs difference %.2e (ok=%s)" % (
        len(rep["cases"]), worst, rep["ok"]))
    res["parity_worst_rel"] = worst
    res["parity_cases"] = len(rep["cases"])
    imgs = np.fromfile(os.path.join(chk, "adherence_images.bin"), dtype=np.float32).reshape(-1, 3, 64, 64)
    imgs = from_tensor_range(imgs)
    summary, results = score(all_items, imgs)
    first, first_results = score(all_items[:len(items)], imgs[:len(items)])
    res.update(adherence_all=summary, adherence_first=first, adherence_results=results, adherence_images=imgs,
               renders=rep["renders"])
    log("ORT adherence (%d prompts x %d seeds): colour %.3f shape %.3f | first seed only: colour %.3f shape %.3f" % (
        len(items), seeds_per_prompt, summary["colour"], summary["shape"], first["colour"], first["shape"]))
    log("per shape: " + ", ".join("%s %.2f" % (k, v["shape"]) for k, v in summary["per_shape"].items()))
    morph = np.fromfile(os.path.join(chk, "morph_images.bin"), dtype=np.float32).reshape(-1, 3, 64, 64)
    morph = from_tensor_range(morph)
    res["morph_images"] = morph
    res["morph"] = morph_trend(morph)
    mr = [r for r in rep["renders"] if r["name"] == "morph"][0]
    log("morph %s -> %s: %s; ORT render of 16 frames: %.1fs (load %.1fs, denoise %.1fs, decode %.1fs)" % (
        MORPH[0], MORPH[1], json.dumps(res["morph"]["summary"]), mr["totalMs"] / 1e3, mr["loadMs"] / 1e3,
        mr["denoiseMs"] / 1e3, mr["decodeMs"] / 1e3))
    return res


MORPH = ("a red circle", "a blue square")
MORPH_SEED = 7


def morph_trend(frames):
    """Per frame: detected colour/shape and t = d(red) / (d(red) + d(blue)) of the shape's mean colour
    (0 = red, 1 = blue). Counts consecutive pairs where t goes back (by more than 0.02)."""
    from measure import analyse
    from shapes_data import PALETTE
    red, blue = np.array(PALETTE["red"], float), np.array(PALETTE["blue"], float)
    per = []
    for im in frames:
        r = analyse(im)
        m = np.array(r.get("mean_rgb", [0, 0, 0]), float)
        dr, db = np.linalg.norm(m - red), np.linalg.norm(m - blue)
        per.append(dict(colour=r["colour"], shape=r["shape"], t=float(dr / (dr + db + 1e-9))))
    rev = sum(1 for a, b in zip(per, per[1:]) if b["t"] < a["t"] - 0.02)
    return dict(frames=per, summary=dict(first=[per[0]["colour"], per[0]["shape"]],
                                         last=[per[-1]["colour"], per[-1]["shape"]], reversals=rev))


def vae_recon_check(enc, dec, seed):
    from measure import analyse
    from shapes_data import from_tensor_range
    stream = ShapeStream(seed * 1000 + 6)
    imgs, _, attrs = stream.batch(200)
    with torch.no_grad():
        rec = from_tensor_range(dec(enc(torch.from_numpy(to_tensor_range(imgs)))).numpy())
    c = s = 0
    for im, a in zip(rec, attrs):
        r = analyse(im)
        c += r["colour"] == a["colour"]
        s += r["shape"] == a["shape"]
    err = np.abs(rec.astype(np.float32) - imgs.astype(np.float32)).mean()
    log("VAE reconstructions: colour %.3f shape %.3f, mean abs err %.2f/255" % (c / 200, s / 200, err))
    return c / 200, s / 200, float(err)


if __name__ == "__main__":
    main()
