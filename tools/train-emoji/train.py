#!/usr/bin/python3
"""Train and export the "emoji" model pack (toy SD3 family) in one deterministic, resumable command.

    /usr/bin/python3 tools/train-emoji/train.py [--out models/emoji] [--work /tmp/train-emoji-work] [--seed 0]

Run it again after an interruption and it resumes from the last checkpoint in --work (one every ~3 minutes);
--fresh starts over. Phases: data (npm pack) -> tokenizer -> VAE -> text encoders -> MMDiT -> guidance ->
ONNX export -> ONNX checks and the engine's figures (node). See README.md next to this file.
"""
import os
import sys

# libgomp reads this when torch loads: sleeping (not spinning) waits keep 2-thread runs fast when another
# process shares the cores (see tools/train-shapes/README.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# This folder first, then the shapes trainer's modules it reuses (models, tokenizer, sampler, export).
sys.path.insert(0, os.path.join(HERE, "..", "train-shapes"))
sys.path.insert(0, HERE)

import argparse  # noqa: E402
import copy  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import emoji_data as D  # noqa: E402
from emoji_tokenizer import EmojiTokenizer  # noqa: E402
from models import ClipTextEncoder, MMDiT, VaeDecoder, VaeEncoder, check_dedup_equivalence, used_length  # noqa: E402
from sampler import Pipeline  # noqa: E402

THREADS = 2

CONFIG = dict(
    latent_channels=8,
    vae_channels=[16, 32, 64, 128],
    vae_steps=1200,
    vae_batch=32,
    vae_lr=2e-3,
    vae_latent_noise=0.25,
    vae_latent_l2=1e-3,
    vae_edge_weight=8.0,
    vae_rgb_align=1.0,
    latent_whitening=True,
    enc1=dict(d=96, layers=2, heads=3, proj=96, act="quick_gelu"),
    enc2=dict(d=128, layers=2, heads=4, proj=128, act="gelu"),
    joint_dim=256,
    hidden=192,
    layers=5,
    heads=6,
    qk_norm=True,
    spatial_text=True,
    dit_steps=8000,
    # Training stops here; the learning-rate schedule runs over dit_steps. The evaluation list was at 98.9% / 99.4%
    # (top-1 / top-5, torch) at step 6,000 of the first run, so the last 1,800 steps were not worth 17 minutes.
    dit_stop=6200,
    batch=64,
    lr=1.5e-3,
    warmup=200,
    weight_decay=0.0,
    ema=0.999,
    cfg_dropout=0.1,
    text_steps=1500,
    text_lr=2e-3,
    text_batch=32,
    text_lr_mult=0.1,
    aux_weight=0.1,
    sigma_mean=0.0,
    shift=1.0,
    steps=20,
    guidance=4.0,
    guidance_candidates=[2.0, 3.0, 4.0, 5.0, 6.0],
    steps_candidates=[10, 12, 14, 16],
    frames_batch=4,
    checkpoint_every_s=180,
    eval_at=[3000, 6000],
)
SUGGESTIONS = 300
VALIDATION = dict(count=120, seed=1000)  # held-out prompts (not in eval-emoji.json) for choosing guidance/steps
STEPS_TOLERANCE = 0.02  # top-1 + top-5 on the held-out prompts a smaller step count may lose


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def cosine_lr(step, total, base, warmup, floor=0.1):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def to_range(images_u8):
    """uint8 [N,64,64,3] -> float32 [N,3,64,64] in [-1, 1]."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous()


def to_u8(x):
    """Decoded [-1,1] [N,3,64,64] -> uint8 [N,64,64,3], as the engine does: round(clamp((x + 1) / 2) * 255)."""
    v = ((x.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.rint(v * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
class Checkpoints:
    """One file per phase in the work dir; written atomically. The config hash guards against resuming
    a run made with other settings."""

    def __init__(self, work, cfg, seed):
        self.work = work
        # The VAE phase depends only on the vae_* settings (and the seed): changing the MMDiT's settings keeps it.
        vae_cfg = {k: v for k, v in cfg.items() if k.startswith("vae_") or k == "latent_channels"}
        self.keys = {"vae": self._key(vae_cfg, seed), "dit": self._key(cfg, seed)}

    @staticmethod
    def _key(cfg, seed):
        return hashlib.sha256(json.dumps([cfg, seed], sort_keys=True).encode()).hexdigest()[:16]

    def key(self, name):
        return self.keys["vae" if name.startswith("vae") else "dit"]

    def path(self, name):
        return os.path.join(self.work, "%s.pt" % name)

    def load(self, name):
        p = self.path(name)
        if not os.path.exists(p):
            return None
        ck = torch.load(p)
        if ck.get("key") != self.key(name):
            raise SystemExit("%s was written with another config or seed: use --fresh (or another --work)" % p)
        return ck

    def save(self, name, obj):
        obj = dict(obj, key=self.key(name))
        tmp = self.path(name) + ".tmp"
        torch.save(obj, tmp)
        os.replace(tmp, self.path(name))


def rng_state(rng, gen):
    return dict(np=rng.get_state(), torch=gen.get_state())


def set_rng_state(rng, gen, st):
    rng.set_state(st["np"])
    gen.set_state(st["torch"])


# ---------------------------------------------------------------------------------------------
def train_vae(cfg, seed, images, ckpts):
    C = cfg["latent_channels"]
    torch.manual_seed(seed * 1000 + 11)
    enc, dec = VaeEncoder(C, cfg["vae_channels"]), VaeDecoder(C, cfg["vae_channels"])
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=cfg["vae_lr"])
    rng = np.random.RandomState(seed * 1000 + 1)
    gen = torch.Generator().manual_seed(seed * 1000 + 12)
    n = cfg["vae_steps"]
    start, elapsed, run = 0, 0.0, 0.0
    ck = ckpts.load("vae_progress")
    if ck is not None:
        enc.load_state_dict(ck["enc"])
        dec.load_state_dict(ck["dec"])
        opt.load_state_dict(ck["opt"])
        set_rng_state(rng, gen, ck["rng"])
        start, elapsed, run = ck["step"], ck["elapsed"], ck["run"]
        log("VAE: resumed at step %d (%.0fs done)" % (start, elapsed))
    enc = enc.to(memory_format=torch.channels_last)
    dec = dec.to(memory_format=torch.channels_last)
    data = to_range(images)
    t0, last_ck = time.time() - elapsed, time.time()
    for step in range(start, n):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, n, cfg["vae_lr"], 50, floor=0.05)
        idx = rng.randint(0, len(data), size=cfg["vae_batch"])
        flip = rng.random_sample(cfg["vae_batch"]) < 0.5
        x = data[idx]
        x = torch.where(torch.from_numpy(flip).reshape(-1, 1, 1, 1), x.flip(-1), x)
        x = x.contiguous(memory_format=torch.channels_last)
        # Edge pixels (where a 3x3 box blur changes the image) weigh more: they carry the drawing.
        edge = ((x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).abs().sum(1, keepdim=True) > 0.02).float()
        w = 1.0 + cfg["vae_edge_weight"] * edge
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = enc(x)
            # Noise relative to the latent's own spread: the decoder learns to turn slightly-off latents
            # into clean pictures, which is what diffusion samples are.
            zf = z.float()
            zn = zf + cfg["vae_latent_noise"] * zf.detach().std() * torch.randn(z.shape, generator=gen)
            y = dec(zn).float()
        z = z.float()
        rec = (w * ((y - x).abs() + (y - x) ** 2)).mean() / w.mean()
        loss = rec + cfg["vae_latent_l2"] * (z ** 2).mean()
        if cfg["vae_rgb_align"]:
            # The first three latent channels are held to the 8x8 box-filtered picture: an image-like latent.
            loss = loss + cfg["vae_rgb_align"] * ((z[:, :3] - F.avg_pool2d(x, 8)) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        run = 0.95 * run + 0.05 * rec.item() if step else rec.item()
        if (step + 1) % 100 == 0 or step == n - 1:
            el = time.time() - t0
            log("vae step %d/%d rec %.4f  %.0fs (eta %.0fs)" % (step + 1, n, run, el,
                                                             el / (step + 1 - start) * (n - step - 1) if step + 1 > start else 0))
        if time.time() - last_ck > cfg["checkpoint_every_s"] and step + 1 < n:
            ckpts.save("vae_progress", dict(enc=enc.state_dict(), dec=dec.state_dict(), opt=opt.state_dict(),
                                            rng=rng_state(rng, gen), step=step + 1, elapsed=time.time() - t0, run=run))
            last_ck = time.time()
    elapsed = time.time() - t0
    enc = enc.to(memory_format=torch.contiguous_format).eval()
    dec = dec.to(memory_format=torch.contiguous_format).eval()
    # SD3 convention: z = (latent - shift) * scale has mean 0 / std 1 over the training images.
    with torch.no_grad():
        lats = torch.cat([enc(data[i:i + 256]) for i in range(0, len(data), 256)])
    shift = float(lats.mean())
    scale = float(1.0 / lats.std())
    return enc, dec, scale, shift, elapsed


class WhitenedEncoder(torch.nn.Module):
    """The trained encoder with each latent channel standardised over the training images: (z - mean) / std.
    The VAE's first three channels are held to the 8x8 picture and spread ~10x less than the others; with
    one scalar scaling_factor (SD3's convention) they would be near-silent next to the noise. Standardised,
    every channel weighs the same in the flow-matching loss, and the coarse colour layout (what makes an
    emoji recognisable at a glance) is decided early in sampling. Part of the exported encoder graph."""

    def __init__(self, enc, mean, std):
        super().__init__()
        self.enc = enc
        self.register_buffer("latent_mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("latent_std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, x):
        return (self.enc(x) - self.latent_mean) / self.latent_std


class WhitenedDecoder(torch.nn.Module):
    """The trained decoder taking standardised latents: dec(z * std + mean). Part of the exported decoder graph."""

    def __init__(self, dec, mean, std):
        super().__init__()
        self.dec = dec
        self.register_buffer("latent_mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("latent_std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, z):
        return self.dec(z * self.latent_std + self.latent_mean)


def whiten(enc, dec, images):
    """Wraps the trained VAE so its latent channels have mean 0 and std 1 over the training images; returns the
    wrappers and SD3's scalar scale/shift of the standardised latents (~1 and ~0)."""
    data = to_range(images)
    with torch.no_grad():
        z = torch.cat([enc(data[i:i + 256]) for i in range(0, len(data), 256)])
        mean, std = z.mean((0, 2, 3)), z.std((0, 2, 3))
        wenc, wdec = WhitenedEncoder(enc, mean, std).eval(), WhitenedDecoder(dec, mean, std).eval()
        zw = (z - wenc.latent_mean) / wenc.latent_std
    log("VAE latent channels: std %s -> standardised" % " ".join("%.2f" % v for v in std.tolist()))
    return wenc, wdec, float(1.0 / zw.std()), float(zw.mean())


def vae_check(enc, dec, images, thumbs):
    """Reconstructions of all training images: mean abs error and how many find their own image nearest
    among all thumbnails (the ceiling of the recognisability measure)."""
    data = to_range(images)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # a diagnostic: bf16 is ~5x faster here
        rec = torch.cat([dec(enc(data[i:i + 256])).float() for i in range(0, len(data), 256)])
    rec_u8 = to_u8(rec)
    err = float(np.abs(rec_u8.astype(np.float32) - images.astype(np.float32)).mean())
    ranks = nearest_ranks(D.thumbnails(rec_u8), thumbs, np.arange(len(images)))
    top1 = float(np.mean(ranks == 0))
    top5 = float(np.mean(ranks < 5))
    log("VAE reconstructions of the %d images: mean abs err %.2f/255, nearest is itself %.3f (top-5 %.3f)" % (
        len(images), err, top1, top5))
    return dict(mean_abs_err=err, top1=top1, top5=top5)


def nearest_ranks(query_thumbs, ref_thumbs, targets):
    """Rank (0 = nearest) of each target among all reference thumbnails by mean squared error over the
    32x32x3 values."""
    q = query_thumbs.reshape(len(query_thumbs), -1).astype(np.float64)
    r = ref_thumbs.reshape(len(ref_thumbs), -1).astype(np.float64)
    d = (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]
    own = d[np.arange(len(q)), targets]
    # strictly nearer images; ties count in the target's favour, like the TypeScript measure
    return (d < own[:, None] - 1e-6).sum(1)


# ---------------------------------------------------------------------------------------------
def make_text_encoders(cfg, vocab_size):
    e1, e2 = cfg["enc1"], cfg["enc2"]
    enc1 = ClipTextEncoder(vocab_size, e1["d"], e1["layers"], e1["heads"], e1["proj"], e1["act"])
    enc2 = ClipTextEncoder(vocab_size, e2["d"], e2["layers"], e2["heads"], e2["proj"], e2["act"])
    return enc1, enc2


def make_dit(cfg):
    pooled = cfg["enc1"]["proj"] + cfg["enc2"]["proj"]
    return MMDiT(cfg["latent_channels"], 8, cfg["hidden"], cfg["layers"], cfg["heads"], cfg["joint_dim"], pooled,
                 qk_norm=cfg["qk_norm"], spatial_text=cfg["spatial_text"])


class AuxHeads(torch.nn.Module):
    """Training-only linear probes: from each text encoder's pooled output and its EOS row of
    hidden_states.(N-1), predict which emoji the caption was drawn for. Teaches the from-scratch text
    encoders to tell 1,911 emoji apart in a few hundred cheap steps. Not exported."""

    def __init__(self, dims, classes):
        super().__init__()
        self.heads = torch.nn.ModuleList([torch.nn.Linear(d, classes) for d in dims])

    def forward(self, feats, target):
        loss, correct, n = 0.0, 0, 0
        for head, f in zip(self.heads, feats):
            logits = head(f.float())
            loss = loss + F.cross_entropy(logits, target, ignore_index=-100)
            keep = target >= 0
            correct += int((logits.argmax(-1)[keep] == target[keep]).sum())
            n += int(keep.sum())
        return loss, correct / max(1, n)


def text_features(enc, ids):
    pooled, _, hs = enc(ids)
    eos = ids.argmax(-1)
    eos_row = hs[-2][torch.arange(ids.shape[0]), eos]
    return pooled, hs[-2], eos_row


def token_batch(tok, caps):
    ids1 = torch.tensor([tok.encode(c, tok.eos_id) for c in caps], dtype=torch.int64)
    ids2 = torch.tensor([tok.encode(c, 0) for c in caps], dtype=torch.int64)
    L = used_length(ids1, ids2)  # the encoders zero every row after EOS: see build_conditioning_dedup
    return ids1[:, :L], ids2[:, :L], L


def aux_target(idx, caps):
    return torch.tensor([int(i) if c else -100 for i, c in zip(idx, caps)], dtype=torch.int64)


def pretrain_text(cfg, seed, tok, sampler, enc1, enc2, aux):
    params = list(enc1.parameters()) + list(enc2.parameters()) + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=cfg["text_lr"], weight_decay=0.0)
    rng = np.random.RandomState(seed * 1000 + 8)
    n, B = cfg["text_steps"], cfg["text_batch"]
    t0 = time.time()
    for step in range(n):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, n, cfg["text_lr"], 20)
        idx, caps = sampler.draw(rng, B)
        ids1, ids2, _ = token_batch(tok, caps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            p1, _, e1 = text_features(enc1, ids1)
            p2, _, e2 = text_features(enc2, ids2)
        loss, acc = aux([p1, p2, e1, e2], aux_target(idx, caps))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 50 == 0 or step == n - 1:
            log("text step %d/%d aux loss %.3f acc %.3f  %.0fs" % (step + 1, n, loss.item(), acc, time.time() - t0))


def train_dit(cfg, seed, tok, sampler, latents, n_classes, ckpts, eval_cb=None):
    torch.manual_seed(seed * 1000 + 21)
    enc1, enc2 = make_text_encoders(cfg, tok.vocab_size)
    dit = make_dit(cfg)
    aux = AuxHeads([cfg["enc1"]["proj"], cfg["enc2"]["proj"], cfg["enc1"]["d"], cfg["enc2"]["d"]], n_classes)
    modules = torch.nn.ModuleList([enc1, enc2, dit])
    ck = ckpts.load("dit_progress")
    if ck is None:
        diff = check_dedup_equivalence(dit, enc1, enc2, tok.vocab_size, cfg["joint_dim"])
        log("154-row context vs folded zero rows: relative max difference %.1e" % diff)
        assert diff < 1e-4, diff
        t = time.time()
        if cfg["text_steps"]:
            pretrain_text(cfg, seed, tok, sampler, enc1, enc2, aux)
        text_s = time.time() - t
    params = list(modules.parameters())
    text_params = list(enc1.parameters()) + list(enc2.parameters())
    dit_params = list(dit.parameters())
    # The pretrained text encoders move slower than the MMDiT (text_lr_mult of its rate), so the features the
    # MMDiT learns to read stay put while it memorises which picture each caption means.
    groups = [dict(params=[p for p in dit_params if p.ndim >= 2], weight_decay=cfg["weight_decay"], mult=1.0),
              dict(params=[p for p in dit_params if p.ndim < 2], weight_decay=0.0, mult=1.0),
              dict(params=text_params, weight_decay=0.0, mult=cfg["text_lr_mult"]),
              dict(params=list(aux.parameters()), weight_decay=0.0, mult=1.0)]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg["lr"], betas=(0.9, 0.99))
    ema = copy.deepcopy(modules)
    for p in ema.parameters():
        p.requires_grad_(False)
    rng = np.random.RandomState(seed * 1000 + 3)
    gen = torch.Generator().manual_seed(seed * 1000 + 4)
    n, B, J = cfg["dit_steps"], cfg["batch"], cfg["joint_dim"]
    stop = min(n, cfg.get("dit_stop") or n)
    start, elapsed, run = 0, 0.0, None
    if ck is not None:
        modules.load_state_dict(ck["modules"])
        ema.load_state_dict(ck["ema"])
        aux.load_state_dict(ck["aux"])
        opt.load_state_dict(ck["opt"])
        set_rng_state(rng, gen, ck["rng"])
        start, elapsed, run, text_s = ck["step"], ck["elapsed"], ck["run"], ck["text_s"]
        log("MMDiT: resumed at step %d (%.0fs done)" % (start, elapsed))
        if start > stop:
            raise SystemExit("dit_progress.pt is at step %d, past dit_stop %d: use --fresh" % (start, stop))
    t0, last_ck = time.time() - elapsed, time.time()

    def save(step):
        ckpts.save("dit_progress", dict(modules=modules.state_dict(), ema=ema.state_dict(), aux=aux.state_dict(),
                                        opt=opt.state_dict(), rng=rng_state(rng, gen), step=step,
                                        elapsed=time.time() - t0, run=run, text_s=text_s))

    if ck is None:
        save(0)
    for step in range(start, stop):
        lr = cosine_lr(step, n, cfg["lr"], cfg["warmup"])
        for g in opt.param_groups:
            g["lr"] = lr * g["mult"]
        idx, caps = sampler.draw(rng, B)
        z0 = latents[idx]
        ids1, ids2, L = token_batch(tok, caps)
        mult = torch.ones(L + 1)
        mult[-1] = 2 * 77 - L
        noise = torch.randn(z0.shape, generator=gen)
        # SD3's logit-normal(m, 1); m > 0 trains more at high noise, where the caption decides the picture.
        sigma = torch.sigmoid(torch.randn(B, generator=gen) + cfg["sigma_mean"])
        s4 = sigma.reshape(B, 1, 1, 1)
        xt = (1 - s4) * z0 + s4 * noise
        target = noise - z0
        with torch.autocast("cpu", dtype=torch.bfloat16):
            p1, h1, e1 = text_features(enc1, ids1)
            p2, h2, e2 = text_features(enc2, ids2)
            ctx = F.pad(torch.cat([h1, h2], dim=-1), (0, J - h1.shape[-1] - h2.shape[-1]))
            ctx = torch.cat([ctx, torch.zeros_like(ctx[:, :1])], dim=1)  # + the 154 - L zero rows, folded
            pooled = torch.cat([p1, p2], dim=-1)
            v = dit(xt, ctx, pooled, sigma * 1000.0, mult)
        loss = F.mse_loss(v.float(), target)
        loss_total = loss
        if cfg["aux_weight"]:
            aux_loss, _ = aux([p1, p2, e1, e2], aux_target(idx, caps))
            loss_total = loss + cfg["aux_weight"] * aux_loss
        opt.zero_grad(set_to_none=True)
        loss_total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(cfg["ema"], (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), params):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        if (step + 1) % 50 == 0 or step == stop - 1:
            el = time.time() - t0
            log("dit step %d/%d (stop at %d) loss %.4f lr %.2e  %.0fs (%.2fs/step, eta %.0fs)" % (
                step + 1, n, stop, run, lr, el, el / (step + 1), el / (step + 1) * (stop - step - 1)))
        if time.time() - last_ck > cfg["checkpoint_every_s"] and step + 1 < stop:
            save(step + 1)
            last_ck = time.time()
            log("checkpoint at step %d" % (step + 1))
        if eval_cb is not None and (step + 1) in cfg["eval_at"] and step + 1 < stop:
            te = time.time()
            eval_cb(step + 1, ema)
            t0 += time.time() - te  # evaluation time is not training time
    ema.eval()
    return ema[0], ema[1], ema[2], time.time() - t0, text_s


def round_weights_fp16(*modules):
    """The pack stores Linear/Conv/Embedding weights as float16: evaluate exactly what ships."""
    with torch.no_grad():
        for m in modules:
            for sub in m.modules():
                if isinstance(sub, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Embedding)):
                    sub.weight.copy_(sub.weight.half().float())


# ---------------------------------------------------------------------------------------------
def load_eval(emoji):
    spec = json.load(open(os.path.join(HERE, "eval-emoji.json")))
    where = {e["unified"]: i for i, e in enumerate(emoji)}
    for it in spec["items"]:
        assert it["unified"] in where, it
        assert it["prompt"] == D.with_article(emoji[where[it["unified"]]]["short"]), it
    return spec, where


def validation_items(emoji, spec):
    """Held-out prompts for choosing the sampler defaults: "a <short name>" of emoji not in the eval list
    (no flags, keycaps or components), seeded draw."""
    used = {it["unified"] for it in spec["items"]}
    pool = [i for i, e in enumerate(emoji) if e["unified"] not in used and e["category"] not in ("Flags", "Component")
            and e["subcategory"] != "keycap"]
    rng = np.random.RandomState(VALIDATION["seed"])
    pick = sorted(rng.choice(pool, VALIDATION["count"], replace=False).tolist())
    return [dict(prompt=D.with_article(emoji[i]["short"]), index=i) for i in pick]


def score_renders(pipe, prompts, targets, thumbs, seed, steps, guidance, shift, chunk=48):
    imgs = []
    for i in range(0, len(prompts), chunk):
        part = prompts[i:i + chunk]
        imgs.append(to_u8(pipe.sample(part, [seed] * len(part), steps, guidance, shift)))
    imgs = np.concatenate(imgs)
    ranks = nearest_ranks(D.thumbnails(imgs), thumbs, np.asarray(targets))
    return float(np.mean(ranks == 0)), float(np.mean(ranks < 5)), ranks, imgs


def choose_guidance(cfg, pipe, val, thumbs):
    cands = cfg["guidance_candidates"]
    if len(cands) == 1:
        cfg["guidance"] = cands[0]
        return
    sweep = {}
    for g in cands:
        t1, t5, _, _ = score_renders(pipe, [v["prompt"] for v in val], [v["index"] for v in val], thumbs,
                                     VALIDATION["seed"], cfg["steps"], g, cfg["shift"])
        sweep[str(g)] = [round(t1, 4), round(t5, 4)]
        log("guidance %.1f on %d held-out prompts: top-1 %.3f top-5 %.3f" % (g, len(val), t1, t5))
    best = max(cands, key=lambda g: (sweep[str(g)][0] + sweep[str(g)][1], -abs(g - cfg["guidance"])))
    cfg["guidance_sweep"] = sweep
    cfg["guidance"] = best
    log("default guidance: %.1f" % best)
    # Fewer steps render faster on two cores: the fewest whose top-1 + top-5 is within STEPS_TOLERANCE of
    # the full step count's.
    full = sum(sweep[str(best)])
    steps_sweep = {str(cfg["steps"]): sweep[str(best)]}
    for n in sorted(cfg["steps_candidates"]):
        if n >= cfg["steps"]:
            continue
        t1, t5, _, _ = score_renders(pipe, [v["prompt"] for v in val], [v["index"] for v in val], thumbs,
                                     VALIDATION["seed"], n, best, cfg["shift"])
        steps_sweep[str(n)] = [round(t1, 4), round(t5, 4)]
        log("%d steps, guidance %.1f on %d held-out prompts: top-1 %.3f top-5 %.3f" % (n, best, len(val), t1, t5))
        if t1 + t5 >= full - STEPS_TOLERANCE:
            cfg["steps"] = n
            break
    cfg["steps_sweep"] = steps_sweep
    log("default steps: %d" % cfg["steps"])


def suggestions(emoji, spec):
    """Prompts to offer as the user types, most common first: the evaluation's common emoji in its order,
    then the other emoji's primary short names (no flags, keycaps or components) in emoji.json's order,
    one or two words long."""
    out = [it["prompt"] for it in spec["items"]]
    seen = set(out)
    for e in emoji:
        if e["category"] in ("Flags", "Component") or e["subcategory"] == "keycap":
            continue
        if not (1 <= len(e["short"].split()) <= 2) or any(ch.isdigit() for ch in e["short"]):
            continue
        p = D.with_article(e["short"])
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out[:SUGGESTIONS]


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "emoji"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/train-emoji-work", help="scratch dir: data, checkpoints")
    ap.add_argument("--fresh", action="store_true", help="delete the checkpoints in --work and start over")
    ap.add_argument("--set", action="append", default=[], help="tuning: override a CONFIG key, k=json")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke tests: no torch evaluation before the export")
    ap.add_argument("--threads", type=int, default=THREADS, help="tuning only; the pack is made with 2")
    args = ap.parse_args()

    cfg = dict(CONFIG)
    for kv in args.set:
        k, v = kv.split("=", 1)
        assert k in cfg, k
        cfg[k] = json.loads(v)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.work, exist_ok=True)
    # Settings that do not change the trained weights do not invalidate checkpoints.
    # dit_stop only ends the loop early: a progress checkpoint before it is the same for any stop (dit.pt records it).
    train_cfg = {k: v for k, v in cfg.items() if k not in ("guidance", "checkpoint_every_s", "eval_at", "steps_candidates", "dit_stop")}
    ckpts = Checkpoints(args.work, train_cfg, args.seed)
    if args.fresh:
        for name in ("vae_progress", "vae", "dit_progress", "dit"):
            if os.path.exists(ckpts.path(name)):
                os.remove(ckpts.path(name))
    timings = {}
    T0 = time.time()
    log("config %s" % json.dumps(cfg))

    # ---- data
    t = time.time()
    emoji, images = D.load_dataset(args.work)
    thumbs = D.thumbnails(images)
    captions = D.build_captions(emoji)
    tok = EmojiTokenizer(D.token_words(captions))
    sampler = D.CaptionSampler(captions, cfg["cfg_dropout"])
    spec, where = load_eval(emoji)
    timings["data"] = time.time() - t
    log("%d emoji, %d captions, %d words; tokenizer: vocab %d, %d merges" % (
        len(emoji), sum(len(c) for c in captions), len(D.caption_words(captions)), tok.vocab_size, len(tok.merges)))

    # ---- VAE
    ck = ckpts.load("vae")
    C = cfg["latent_channels"]
    if ck is None:
        vae_enc, vae_dec, scale, shift, secs = train_vae(cfg, args.seed, images, ckpts)
        ckpts.save("vae", dict(enc=vae_enc.state_dict(), dec=vae_dec.state_dict(), scale=scale, shift=shift,
                               seconds=secs))
        if os.path.exists(ckpts.path("vae_progress")):
            os.remove(ckpts.path("vae_progress"))
    else:
        vae_enc, vae_dec = VaeEncoder(C, cfg["vae_channels"]), VaeDecoder(C, cfg["vae_channels"])
        vae_enc.load_state_dict(ck["enc"])
        vae_dec.load_state_dict(ck["dec"])
        vae_enc.eval()
        vae_dec.eval()
        scale, shift, secs = ck["scale"], ck["shift"], ck["seconds"]
        log("VAE: loaded from %s" % ckpts.path("vae"))
    timings["vae"] = secs
    for p in list(vae_enc.parameters()) + list(vae_dec.parameters()):
        p.requires_grad_(False)
    if cfg["latent_whitening"]:
        vae_enc, vae_dec, scale, shift = whiten(vae_enc, vae_dec, images)
    log("VAE: %.0fs; scaling_factor %.4f shift_factor %.4f" % (secs, scale, shift))
    with torch.no_grad():
        data = to_range(images)
        latents = (torch.cat([vae_enc(data[i:i + 256]) for i in range(0, len(data), 256)]) - shift) * scale
    vae_fig = vae_check(vae_enc, vae_dec, images, thumbs)

    eval_prompts = [it["prompt"] for it in spec["items"]]
    eval_targets = [where[it["unified"]] for it in spec["items"]]

    def quick_eval(step, mods):
        te = time.time()
        pipe = Pipeline(tok, mods[0], mods[1], mods[2], vae_dec, cfg["joint_dim"], scale, shift, C, dedup=True,
                        autocast=True)
        t1, t5, _, _ = score_renders(pipe, eval_prompts, eval_targets, thumbs, spec["seed"], cfg["steps"],
                                     cfg["guidance"], cfg["shift"])
        log("eval@%d (torch, bf16, g=%.1f): top-1 %.3f top-5 %.3f over %d prompts [%.0fs]" % (
            step, cfg["guidance"], t1, t5, len(eval_prompts), time.time() - te))

    # ---- text encoders + MMDiT
    ck = ckpts.load("dit")
    if ck is None:
        enc1, enc2, dit, secs, text_s = train_dit(cfg, args.seed, tok, sampler, latents, len(emoji), ckpts,
                                                  eval_cb=quick_eval)
        ckpts.save("dit", dict(enc1=enc1.state_dict(), enc2=enc2.state_dict(), dit=dit.state_dict(), seconds=secs,
                               text_s=text_s, stop=cfg["dit_stop"]))
        if os.path.exists(ckpts.path("dit_progress")):
            os.remove(ckpts.path("dit_progress"))
    else:
        if ck.get("stop") != cfg["dit_stop"]:
            raise SystemExit("%s stopped at step %s, not dit_stop %d: use --fresh" % (ckpts.path("dit"), ck.get("stop"), cfg["dit_stop"]))
        enc1, enc2 = make_text_encoders(cfg, tok.vocab_size)
        dit = make_dit(cfg)
        enc1.load_state_dict(ck["enc1"])
        enc2.load_state_dict(ck["enc2"])
        dit.load_state_dict(ck["dit"])
        secs, text_s = ck["seconds"], ck["text_s"]
        log("MMDiT: loaded from %s" % ckpts.path("dit"))
    timings["text"] = text_s
    timings["dit"] = secs - text_s
    for m in (enc1, enc2, dit):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    round_weights_fp16(enc1, enc2, dit, vae_dec, vae_enc)

    # ---- sampler defaults on held-out prompts, then the evaluation list (torch, float32)
    t = time.time()
    pipe = Pipeline(tok, enc1, enc2, dit, vae_dec, cfg["joint_dim"], scale, shift, C, dedup=True, autocast=True)
    val = validation_items(emoji, spec)
    choose_guidance(cfg, pipe, val, thumbs)
    if args.quick:
        t1, t5, ranks, eval_imgs = 0.0, 0.0, np.zeros(len(eval_prompts), int), None
    else:
        t1, t5, ranks, eval_imgs = score_renders(pipe, eval_prompts, eval_targets, thumbs, spec["seed"], cfg["steps"],
                                                 cfg["guidance"], cfg["shift"])
    log("torch (bf16 matmuls), seed %d, g=%.1f: top-1 %.3f top-5 %.3f over %d prompts; misses: %s" % (
        spec["seed"], cfg["guidance"], t1, t5, len(eval_prompts),
        ", ".join("%s (rank %d)" % (p, r) for p, r in zip(eval_prompts, ranks) if r > 0)))
    torch_fig = dict(top1=t1, top5=t5)
    timings["torch_eval"] = time.time() - t
    if args.no_export:
        log("total %.0fs" % (time.time() - T0))
        return

    # ---- export, checks through onnxruntime-node, the engine's figures, model card
    import pack_export
    out = os.path.abspath(args.out)
    t = time.time()
    defaults = dict(width=64, height=64, steps=cfg["steps"], guidance=cfg["guidance"], fps=10, frames=16,
                    batchSize=cfg["frames_batch"], displayScale=4)
    mods = pack_export.export(out, cfg, tok, enc1, enc2, dit, vae_enc, vae_dec, scale, shift, defaults,
                              vocabulary=D.caption_words(captions), suggestions=suggestions(emoji, spec))
    pack_export.write_reference(thumbs, emoji)
    pack_export.write_token_fixtures(tok, spec)
    timings["export"] = time.time() - t
    log("exported to %s in %.0fs" % (out, timings["export"]))
    t = time.time()
    parity = pack_export.check_parity(args.work, out, tok, cfg, mods)
    engine_fig = pack_export.engine_figures(out)
    timings["engine_eval"] = time.time() - t
    # Resumed phases count with the time they took when they ran (saved in their checkpoints).
    timings["total"] = sum(timings.values())
    pack_export.write_reports(out, args, cfg, tok, emoji, spec, timings, dict(
        vae=vae_fig, torch=torch_fig, parity=parity, engine=engine_fig, scale=scale, shift=shift,
        words=len(D.caption_words(captions)), captions=len({c for caps in captions for c, _ in caps})),
        (enc1, enc2, dit, vae_enc, vae_dec), eval_imgs)
    log("done: %.1f min of training and checks (this invocation %.1f min)" % (
        timings["total"] / 60, (time.time() - T0) / 60))


if __name__ == "__main__":
    main()
