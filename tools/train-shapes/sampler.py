"""The engine's sampler in PyTorch: FlowMatchEulerDiscreteScheduler sigmas, Euler steps, CFG with "" as
the unconditional prompt, VAE decode with (z / scale + shift)."""
import numpy as np
import torch

from models import MAX_LEN, build_conditioning, build_conditioning_dedup

NUM_TRAIN_TIMESTEPS = 1000


def flow_match_sigmas(steps, shift):
    """sigmas[0..steps] (last = 0) exactly as diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps."""
    n = NUM_TRAIN_TIMESTEPS
    train_t = torch.from_numpy(np.linspace(1, n, n, dtype=np.float32)[::-1].copy())
    train_s = train_t / n
    train_s = shift * train_s / (1 + (shift - 1) * train_s)
    sigma_max, sigma_min = train_s[0].item(), train_s[-1].item()
    timesteps = np.linspace(sigma_max * n, sigma_min * n, steps)
    s = timesteps / n
    s = shift * s / (1 + (shift - 1) * s)
    s = torch.from_numpy(s).to(torch.float32)
    return torch.cat([s, torch.zeros(1)])


class Pipeline:
    def __init__(self, tok, enc1, enc2, dit, vae_dec, joint_dim, scale, shift_factor, latent_channels,
                 dedup=True, autocast=False):
        self.tok, self.enc1, self.enc2, self.dit, self.vae_dec = tok, enc1, enc2, dit, vae_dec
        self.J, self.scale, self.shift_factor, self.C = joint_dim, scale, shift_factor, latent_channels
        self.dedup, self.autocast = dedup, autocast

    def ids(self, prompts):
        ids1 = torch.tensor([self.tok.encode(p, self.tok.eos_id) for p in prompts], dtype=torch.int64)
        ids2 = torch.tensor([self.tok.encode(p, 0) for p in prompts], dtype=torch.int64)
        return ids1, ids2

    @torch.no_grad()
    def encode(self, prompts):
        ids1, ids2 = self.ids(prompts)
        if self.dedup:
            ctx, pooled, mult = build_conditioning_dedup(self.enc1, self.enc2, ids1, ids2, self.J)
        else:
            ctx, pooled = build_conditioning(self.enc1, self.enc2, ids1, ids2, self.J)
            mult = None
        return ctx, pooled, mult

    def noise(self, seeds, size=8):
        """The engine's noise for each seed (engine_noise below), [len(seeds), C, size, size]."""
        return torch.cat([torch.from_numpy(engine_noise(int(s), self.C * size * size)).reshape(1, self.C, size, size)
                          for s in seeds])

    @torch.no_grad()
    def sample(self, prompts, seeds, steps, guidance, shift, negative="", chunk=64):
        """Returns decoded images float [B,3,64,64] in ~[-1,1]."""
        # One encode for both, so the (folded) context has the same length for the two halves.
        ctx, pooled, mult = self.encode([negative] + list(prompts))
        nctx, npooled, ctx, pooled = ctx[:1], pooled[:1], ctx[1:], pooled[1:]
        sigmas = flow_match_sigmas(steps, shift)
        x_all = self.noise(seeds)
        outs = []
        for i0 in range(0, len(prompts), chunk):
            x = x_all[i0:i0 + chunk]
            b = x.shape[0]
            c = torch.cat([nctx.expand(b, -1, -1), ctx[i0:i0 + b]])
            p = torch.cat([npooled.expand(b, -1), pooled[i0:i0 + b]])
            for i in range(steps):
                t = (sigmas[i] * NUM_TRAIN_TIMESTEPS).expand(2 * b)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
                    v = self.dit(torch.cat([x, x]), c, p, t, mult).float()
                vu, vc = v[:b], v[b:]
                v = vu + guidance * (vc - vu)
                x = x + (sigmas[i + 1] - sigmas[i]) * v
            outs.append(x)
        z = torch.cat(outs)
        return self.vae_dec(z / self.scale + self.shift_factor)


# ---------------------------------------------------------------------------------------------
# The engine's seeded Gaussian noise (src/engine/sampler/GaussianNoise.ts), so that the evaluation here
# renders from exactly the noise the engine (and the TypeScript adherence test) uses for a seed.
_M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & _M32


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


def _splitmix32(state):
    state = (state + 0x9E3779B9) & _M32
    z = state
    z = _imul(z ^ (z >> 16), 0x85EBCA6B)
    z = _imul(z ^ (z >> 13), 0xC2B2AE35)
    return state, (z ^ (z >> 16)) & _M32


def engine_noise(seed, length, stream=0):
    """float32 [length]: xoshiro128** seeded through splitmix32 from (seed, stream), Box-Muller pairs."""
    import math
    assert 0 <= seed < 2 ** 53
    st = (seed & _M32) ^ _imul((seed // 2 ** 32) & _M32, 0x27D4EB2D) ^ _imul(stream + 1, 0x165667B1)
    s = []
    for _ in range(4):
        st, out = _splitmix32(st)
        s.append(out)
    if not any(s):
        s[0] = 1
    s0, s1, s2, s3 = s

    out = np.zeros(length, dtype=np.float32)

    def nxt():
        nonlocal s0, s1, s2, s3
        result = _imul(_rotl(_imul(s1, 5), 7), 9)
        t = (s1 << 9) & _M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 11)
        return ((result >> 8) + 1) / 16777216.0

    for i in range(0, length, 2):
        r = math.sqrt(-2.0 * math.log(nxt()))
        theta = 2.0 * math.pi * nxt()
        out[i] = r * math.cos(theta)
        if i + 1 < length:
            out[i + 1] = r * math.sin(theta)
    return out
