"""Random-weight models of SD3-Medium's architecture in plain PyTorch (the GPU host has no diffusers).

MMDiT follows diffusers' SD3Transformer2DModel (SD3 Medium: 24 joint blocks, hidden 1536 = 24 heads x 64,
patch 2, 16 latent channels, joint_attention_dim 4096, pooled 2048, pos_embed_max_size 192, the last block
context_pre_only); the VAE decoder follows AutoencoderKL's decoder (block_out_channels 128/256/512/512,
3 resnets per up block, a mid block with one attention, GroupNorm 32, 16 latent channels); the text
encoders are small CLIP-shaped encoders with the exporter's outputs (text_embeds, last_hidden_state,
hidden_states.N). Weights are random (normal, std 0.02): speed, shapes and I/O are what this measures.

Attention is `attention(q, k, v, heads)` on [B, S, H*D] tensors. In eager it is torch's
scaled_dot_product_attention (the fused kernels PyTorch uses); when exported with fused=True it becomes one
com.microsoft MultiHeadAttention node (onnxruntime's fused attention, which its CPU, CUDA and WebGPU providers
implement), through a torch.autograd.Function with an ONNX symbolic (TorchScript exporter).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

_sdpa = getattr(F, "scaled_dot_product_attention", None)  # torch >= 2.0


def _attention_eager(q, k, v, heads):
    b, s, d = q.shape
    hd = d // heads
    q, k, v = (t.view(b, -1, heads, hd).transpose(1, 2) for t in (q, k, v))
    if _sdpa is not None:
        o = _sdpa(q, k, v)
    else:  # torch 1.x (the CPU smoke test here)
        w = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd), dim=-1)
        o = w @ v
    return o.transpose(1, 2).reshape(b, s, d)


class _FusedMHA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, heads):
        return _attention_eager(q, k, v, heads)

    @staticmethod
    def symbolic(g, q, k, v, heads):
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads)
        out.setType(q.type())
        return out


class AttentionMode:
    """Switched to fused just around torch.onnx.export."""

    fused_export = False


def attention(q, k, v, heads):
    if AttentionMode.fused_export and torch.onnx.is_in_onnx_export():
        return _FusedMHA.apply(q, k, v, heads)
    return _attention_eager(q, k, v, heads)


def init_weights(module, std=0.02):
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------- MMDiT

def timestep_embedding(t, dim=256):
    # diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_2d(embed_dim, grid, base_size, interpolation_scale=1.0):
    # diffusers get_2d_sincos_pos_embed, cropped later to the image's patch grid
    gh = torch.arange(grid, dtype=torch.float64) / (grid / base_size) / interpolation_scale
    mesh = torch.meshgrid(gh, gh, indexing="xy")
    def one(d, pos):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2.0))
        out = pos.reshape(-1)[:, None] * omega[None]
        return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
    emb = torch.cat([one(embed_dim // 2, mesh[0]), one(embed_dim // 2, mesh[1])], dim=1)
    return emb.float()


# SD3's norms have no affine parameters; these keep weight 1 and bias 0 (same result), because torch 1.13's
# opset-17 export of a LayerNorm without them writes a LayerNormalization with an empty scale input.
class AdaNormZero(nn.Module):
    def __init__(self, dim, chunks=6):
        super().__init__()
        self.linear = nn.Linear(dim, chunks * dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.chunks = chunks

    def forward(self, x, temb):
        mods = self.linear(F.silu(temb)).unsqueeze(1).chunk(self.chunks, dim=-1)
        if self.chunks == 2:  # AdaLayerNormContinuous: (scale, shift)
            scale, shift = mods
            return self.norm(x) * (1 + scale) + shift, ()
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods
        return self.norm(x) * (1 + scale_msa) + shift_msa, (gate_msa, shift_mlp, scale_mlp, gate_mlp)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class JointBlock(nn.Module):
    def __init__(self, dim, heads, context_pre_only=False):
        super().__init__()
        self.heads = heads
        self.context_pre_only = context_pre_only
        self.norm1 = AdaNormZero(dim)
        self.norm1_context = AdaNormZero(dim, 2 if context_pre_only else 6)
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.add_qkv = nn.Linear(dim, 3 * dim)
        self.to_out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ff = FeedForward(dim)
        if not context_pre_only:
            self.to_add_out = nn.Linear(dim, dim)
            self.norm2_context = nn.LayerNorm(dim, eps=1e-6)
            self.ff_context = FeedForward(dim)

    def forward(self, x, c, temb):
        nx, (g_msa, sh_mlp, sc_mlp, g_mlp) = self.norm1(x, temb)
        nc, cmods = self.norm1_context(c, temb)
        q, k, v = self.to_qkv(nx).chunk(3, dim=-1)
        cq, ck, cv = self.add_qkv(nc).chunk(3, dim=-1)
        n = x.shape[1]
        # joint attention over [image tokens, text tokens] (diffusers' JointAttnProcessor2_0 order)
        o = attention(torch.cat([q, cq], 1), torch.cat([k, ck], 1), torch.cat([v, cv], 1), self.heads)
        ox, oc = o[:, :n], o[:, n:]
        x = x + g_msa * self.to_out(ox)
        x = x + g_mlp * self.ff(self.norm2(x) * (1 + sc_mlp) + sh_mlp)
        if self.context_pre_only:
            return x, c
        cg_msa, csh_mlp, csc_mlp, cg_mlp = cmods
        c = c + cg_msa * self.to_add_out(oc)
        c = c + cg_mlp * self.ff_context(self.norm2_context(c) * (1 + csc_mlp) + csh_mlp)
        return x, c


class MMDiT(nn.Module):
    def __init__(self, blocks=24, hidden=1536, heads=24, patch=2, channels=16, context=4096, pooled=2048, pos_max=192, latent=64):
        super().__init__()
        self.patch, self.channels, self.hidden = patch, channels, hidden
        self.proj = nn.Conv2d(channels, hidden, patch, patch)
        grid = latent // patch
        full = sincos_2d(hidden, pos_max, base_size=latent // patch).reshape(pos_max, pos_max, hidden)
        top = (pos_max - grid) // 2
        # diffusers crops the pos_embed_max_size grid to the image's patch grid, centred
        self.register_buffer("pos", full[top : top + grid, top : top + grid].reshape(1, grid * grid, hidden).clone())
        self.t_lin1, self.t_lin2 = nn.Linear(256, hidden), nn.Linear(hidden, hidden)
        self.p_lin1, self.p_lin2 = nn.Linear(pooled, hidden), nn.Linear(hidden, hidden)
        self.context_embedder = nn.Linear(context, hidden)
        self.blocks = nn.ModuleList(JointBlock(hidden, heads, context_pre_only=(i == blocks - 1)) for i in range(blocks))
        self.norm_out = AdaNormZero(hidden, 2)
        self.proj_out = nn.Linear(hidden, patch * patch * channels)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep):
        b, _, h, w = hidden_states.shape
        p = self.patch
        x = self.proj(hidden_states).flatten(2).transpose(1, 2) + self.pos.to(hidden_states.dtype)
        temb = self.t_lin2(F.silu(self.t_lin1(timestep_embedding(timestep).to(hidden_states.dtype))))
        temb = temb + self.p_lin2(F.silu(self.p_lin1(pooled_projections)))
        c = self.context_embedder(encoder_hidden_states)
        for block in self.blocks:
            x, c = block(x, c, temb)
        x, _ = self.norm_out(x, temb)
        x = self.proj_out(x)  # [b, (h/p)(w/p), p*p*C]
        x = x.reshape(b, h // p, w // p, p, p, self.channels).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, self.channels, h, w)


# ------------------------------------------------------------------------------------------ VAE decoder

class ResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups, cin, eps=1e-6), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(groups, cout, eps=1e-6), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class VaeAttention(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        o = _attention_eager(q, k, v, 1)  # one head over all pixels, as diffusers' VAE
        return x + self.out(o).transpose(1, 2).reshape(b, c, h, w)


class VaeDecoder(nn.Module):
    def __init__(self, latent_channels=16, block_out=(128, 256, 512, 512), layers=2, groups=32):
        super().__init__()
        rev = list(reversed(block_out))
        self.conv_in = nn.Conv2d(latent_channels, rev[0], 3, padding=1)
        self.mid = nn.ModuleList([ResBlock(rev[0], rev[0], groups), VaeAttention(rev[0], groups), ResBlock(rev[0], rev[0], groups)])
        ups, samplers, cin = [], [], rev[0]
        for i, cout in enumerate(rev):
            ups.append(nn.ModuleList(ResBlock(cin if j == 0 else cout, cout, groups) for j in range(layers + 1)))
            samplers.append(nn.Conv2d(cout, cout, 3, padding=1) if i < len(rev) - 1 else nn.Identity())
            cin = cout
        self.ups = nn.ModuleList(ups)
        self.upsamplers = nn.ModuleList(samplers)
        self.norm_out = nn.GroupNorm(groups, rev[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(rev[-1], 3, 3, padding=1)

    def forward(self, latent_sample):
        x = self.conv_in(latent_sample)
        for m in self.mid:
            x = m(x)
        for i, (up, sampler) in enumerate(zip(self.ups, self.upsamplers)):
            for r in up:
                x = r(x)
            if i < len(self.ups) - 1:  # nearest 2x then a conv, as diffusers' Upsample2D
                x = sampler(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


# ------------------------------------------------------------------------------------------ CLIP-shaped

class ClipText(nn.Module):
    """CLIPTextModelWithProjection's shape: token + position embeddings, pre-LN causal blocks, final LN,
    EOS pooling (argmax of ids: the EOS id is the largest), projection. Returns the exporter's outputs."""

    def __init__(self, vocab, hidden, layers, heads, projection, max_pos=77):
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.layers = nn.ModuleList(
            nn.ModuleDict(dict(ln1=nn.LayerNorm(hidden), qkv=nn.Linear(hidden, 3 * hidden), out=nn.Linear(hidden, hidden), ln2=nn.LayerNorm(hidden), fc1=nn.Linear(hidden, 4 * hidden), fc2=nn.Linear(4 * hidden, hidden)))
            for _ in range(layers)
        )
        self.final = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, projection, bias=False)

    def forward(self, input_ids):
        b, s = input_ids.shape
        x = self.tok(input_ids) + self.pos(torch.arange(s, device=input_ids.device))[None]
        mask = torch.full((s, s), float("-inf"), device=x.device, dtype=x.dtype).triu(1)
        hidden = [x]
        for L in self.layers:
            h = L["ln1"](x)
            q, k, v = L["qkv"](h).chunk(3, dim=-1)
            hd = q.shape[-1] // self.heads
            q, k, v = (t.view(b, s, self.heads, hd).transpose(1, 2) for t in (q, k, v))
            w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
            x = x + L["out"]((w @ v).transpose(1, 2).reshape(b, s, -1))
            h = L["fc1"](L["ln2"](x))
            x = x + L["fc2"](h * torch.sigmoid(1.702 * h))  # quick_gelu
            hidden.append(x)
        last = self.final(x)
        eos = input_ids.argmax(dim=-1)
        pooled = last[torch.arange(b, device=x.device), eos]
        return (self.proj(pooled), last, *hidden)
