"""Toy-scale SD3 family: VAE, two CLIP-like text encoders, an MMDiT (SD3Transformer2DModel layout)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_LEN = 77


# ---------------------------------------------------------------------------------------------
# VAE (plain conv autoencoder with a noised, L2-regularised latent)
# ---------------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class VaeEncoder(nn.Module):
    def __init__(self, latent_channels, ch=(16, 32, 64, 128)):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        for i in range(3):
            self.down.append(nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1))
        self.mid = ResBlock(ch[3])
        self.conv_out = nn.Conv2d(ch[3], latent_channels, 3, padding=1)

    def forward(self, x):
        h = F.silu(self.conv_in(x))
        for d in self.down:
            h = F.silu(d(h))
        h = self.mid(h)
        return self.conv_out(F.silu(h))


class VaeDecoder(nn.Module):
    def __init__(self, latent_channels, ch=(16, 32, 64, 128)):
        super().__init__()
        self.conv_in = nn.Conv2d(latent_channels, ch[3], 3, padding=1)
        self.mid = ResBlock(ch[3])
        self.up = nn.ModuleList()
        self.res = nn.ModuleList()
        for i in (3, 2, 1):
            self.up.append(nn.Conv2d(ch[i], ch[i - 1], 3, padding=1))
            self.res.append(ResBlock(ch[i - 1]))
        self.conv_out = nn.Conv2d(ch[0], 3, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for up, res in zip(self.up, self.res):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = res(F.silu(up(h)))
        return torch.tanh(self.conv_out(F.silu(h)))


# ---------------------------------------------------------------------------------------------
# CLIP-like text encoder (CLIPTextModelWithProjection outputs)
# ---------------------------------------------------------------------------------------------
def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipLayer(nn.Module):
    def __init__(self, d, heads, act):
        super().__init__()
        self.heads = heads
        self.layer_norm1 = nn.LayerNorm(d)
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.layer_norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.act = act

    def forward(self, x, mask):
        B, L, D = x.shape
        H = self.heads
        h = self.layer_norm1(x)
        q = self.q_proj(h).reshape(-1, L, H, D // H).transpose(1, 2)
        k = self.k_proj(h).reshape(-1, L, H, D // H).transpose(1, 2)
        v = self.v_proj(h).reshape(-1, L, H, D // H).transpose(1, 2)
        a = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D // H)) + mask
        a = torch.softmax(a, dim=-1)
        o = torch.matmul(a, v).transpose(1, 2).reshape(-1, L, D)
        x = x + self.out_proj(o)
        h = self.layer_norm2(x)
        h = self.fc1(h)
        h = quick_gelu(h) if self.act == "quick_gelu" else F.gelu(h)
        return x + self.fc2(h)


class ClipTextEncoder(nn.Module):
    def __init__(self, vocab_size, d, layers, heads, proj_dim, act):
        super().__init__()
        self.d, self.num_layers, self.heads, self.proj_dim, self.act = d, layers, heads, proj_dim, act
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, d)
        self.position_embedding = nn.Parameter(torch.randn(MAX_LEN, d) * 0.01)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.layers = nn.ModuleList([ClipLayer(d, heads, act) for _ in range(layers)])
        self.final_layer_norm = nn.LayerNorm(d)
        self.text_projection = nn.Linear(d, proj_dim, bias=False)
        mask = torch.full((MAX_LEN, MAX_LEN), -1e9).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, input_ids):
        """Returns (text_embeds [B,P], last_hidden_state [B,L,D], [hidden_states.0 .. .N]); L = 77 in the pack.

        Rows after the EOS token (the padding) are zeroed in every hidden-state output: they carry nothing a
        caption says, and all-zero rows equal the 77 zero rows SD3 appends without T5, so training can fold
        them into one attention key (see build_conditioning_dedup). Attention is causal, so the rows up to EOS
        do not depend on the padding: training runs the encoder on the first L <= 77 tokens only (the
        position embedding and the causal mask are cut to L), which gives exactly the same rows."""
        L = input_ids.shape[1]
        pos = self.position_embedding if L == MAX_LEN else self.position_embedding[:L]
        mask = self.causal_mask if L == MAX_LEN else self.causal_mask[:L, :L]
        x = self.token_embedding(input_ids) + pos
        hs = [x]
        for layer in self.layers:
            x = layer(x, mask)
            hs.append(x)
        last = self.final_layer_norm(x)
        eos = input_ids.argmax(dim=-1)
        idx = eos.reshape(-1, 1, 1).expand(-1, 1, self.d)
        pooled = torch.gather(last, 1, idx).reshape(-1, self.d)
        keep = (torch.arange(L).reshape(1, L) <= eos.reshape(-1, 1)).unsqueeze(-1)  # [B, L, 1]
        hs = [h * keep.to(h.dtype) for h in hs]
        last = last * keep.to(last.dtype)
        return self.text_projection(pooled), last, hs


# ---------------------------------------------------------------------------------------------
# MMDiT (diffusers SD3Transformer2DModel at toy scale)
# ---------------------------------------------------------------------------------------------
def timestep_embedding(t, dim=256):
    """diffusers get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)."""
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half
    freqs = torch.exp(exponent)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLP2(nn.Module):
    """linear_1 -> SiLU -> linear_2 (TimestepEmbedding / PixArtAlphaTextProjection)."""

    def __init__(self, din, d):
        super().__init__()
        self.linear_1 = nn.Linear(din, d)
        self.linear_2 = nn.Linear(d, d)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class FeedForward(nn.Module):
    def __init__(self, d, mult=4):
        super().__init__()
        self.proj_in = nn.Linear(d, d * mult)
        self.proj_out = nn.Linear(d * mult, d)

    def forward(self, x):
        return self.proj_out(F.gelu(self.proj_in(x), approximate="tanh"))


def _ln(x, ones, zeros):
    # LayerNorm without affine parameters (SD3's elementwise_affine=False), written with an explicit
    # all-ones weight and all-zeros bias: torch 1.13's opset-17 exporter writes an invalid
    # LayerNormalization without a weight, and onnxruntime's graph optimizer (level "extended" and up)
    # segfaults on a LayerNormalization without a bias.
    return F.layer_norm(x.float(), ones.shape, ones, zeros, 1e-6)


def _zero(lin):
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


class RMSNorm(nn.Module):
    """diffusers RMSNorm (SD3.5's qk_norm="rms_norm"), over the head dimension."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class JointBlock(nn.Module):
    def __init__(self, d, heads, context_pre_only=False, qk_norm=True):
        super().__init__()
        self.qk_norm = qk_norm
        if qk_norm:
            dh = d // heads
            self.norm_q, self.norm_k = RMSNorm(dh), RMSNorm(dh)
            self.norm_added_q, self.norm_added_k = RMSNorm(dh), RMSNorm(dh)
        self.d, self.heads, self.pre_only = d, heads, context_pre_only
        self.register_buffer("ones", torch.ones(d), persistent=False)
        self.register_buffer("zeros", torch.zeros(d), persistent=False)
        self.norm1 = _zero(nn.Linear(d, 6 * d))
        self.norm1_context = _zero(nn.Linear(d, (2 if context_pre_only else 6) * d))
        self.to_qkv = nn.Linear(d, 3 * d)
        self.add_qkv_proj = nn.Linear(d, 3 * d)
        self.to_out = nn.Linear(d, d)
        self.ff = FeedForward(d)
        if not context_pre_only:
            self.to_add_out = nn.Linear(d, d)
            self.ff_context = FeedForward(d)

    def forward(self, x, c, emb, key_bias=None):
        # x: [B,N,d] image tokens; c: [B,S,d] context tokens; emb: SiLU(temb) [B,d]
        # key_bias: optional [N+S] added to the attention logits (training only: log-multiplicity of
        # deduplicated identical context rows, see MMDiT.forward)
        d, H = self.d, self.heads
        N = x.shape[1]
        sh_msa, sc_msa, g_msa, sh_mlp, sc_mlp, g_mlp = self.norm1(emb).unsqueeze(1).chunk(6, dim=-1)
        xn = _ln(x, self.ones, self.zeros) * (1 + sc_msa) + sh_msa
        if self.pre_only:
            c_sc, c_sh = self.norm1_context(emb).unsqueeze(1).chunk(2, dim=-1)  # AdaLayerNormContinuous order
            cn = _ln(c, self.ones, self.zeros) * (1 + c_sc) + c_sh
        else:
            c_sh_msa, c_sc_msa, c_g_msa, c_sh_mlp, c_sc_mlp, c_g_mlp = self.norm1_context(emb).unsqueeze(1).chunk(
                6, dim=-1)
            cn = _ln(c, self.ones, self.zeros) * (1 + c_sc_msa) + c_sh_msa
        xq, xk, xv = self.to_qkv(xn).reshape(-1, N, 3, H, d // H).permute(2, 0, 3, 1, 4)
        S = c.shape[1]
        cq, ck, cv = self.add_qkv_proj(cn).reshape(-1, S, 3, H, d // H).permute(2, 0, 3, 1, 4)
        if self.qk_norm:
            xq, xk = self.norm_q(xq), self.norm_k(xk)
            cq, ck = self.norm_added_q(cq), self.norm_added_k(ck)
        q = torch.cat([xq, cq], dim=2)  # [B, H, N+S, dh]
        k = torch.cat([xk, ck], dim=2)
        v = torch.cat([xv, cv], dim=2)
        L = N + S
        logits = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d // H))
        if key_bias is not None:
            logits = logits + key_bias
        a = torch.softmax(logits, dim=-1)
        o = torch.matmul(a, v).transpose(1, 2).reshape(-1, L, d)
        x = x + g_msa * self.to_out(o[:, :N])
        x = x + g_mlp * self.ff(_ln(x, self.ones, self.zeros) * (1 + sc_mlp) + sh_mlp)
        if self.pre_only:
            return x, None
        c = c + c_g_msa * self.to_add_out(o[:, N:])
        c = c + c_g_mlp * self.ff_context(_ln(c, self.ones, self.zeros) * (1 + c_sc_mlp) + c_sh_mlp)
        return x, c


class MMDiT(nn.Module):
    def __init__(self, in_channels, sample_size, hidden, layers, heads, joint_dim, pooled_dim, patch=2, qk_norm=True,
                 spatial_text=False):
        super().__init__()
        self.C, self.p, self.hidden = in_channels, patch, hidden
        self.grid = sample_size // patch
        self.pos_embed_proj = nn.Conv2d(in_channels, hidden, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid * self.grid, hidden) * 0.02)
        self.timestep_embedder = MLP2(256, hidden)
        self.text_embedder = MLP2(pooled_dim, hidden)
        self.context_embedder = nn.Linear(joint_dim, hidden)
        self.blocks = nn.ModuleList(
            [JointBlock(hidden, heads, context_pre_only=(i == layers - 1), qk_norm=qk_norm) for i in range(layers)])
        self.norm_out = _zero(nn.Linear(hidden, 2 * hidden))
        self.register_buffer("ones", torch.ones(hidden), persistent=False)
        self.register_buffer("zeros", torch.zeros(hidden), persistent=False)
        self.proj_out = _zero(nn.Linear(hidden, patch * patch * in_channels))
        # Optional (not in SD3): the pooled text embedding also gives every latent patch its own offset. SD3's
        # only per-caption input to the image tokens is adaLN (the same for every patch) and attention to the
        # caption rows; a small model that must learn thousands of distinct pictures from scratch on two CPU
        # cores learns "which picture" ~10x faster with a per-patch path. Same graph inputs and outputs.
        self.spatial_text = None
        if spatial_text:
            self.spatial_text = nn.Sequential(nn.Linear(pooled_dim, hidden), nn.SiLU(),
                                              nn.Linear(hidden, self.grid * self.grid * hidden))

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, context_multiplicity=None):
        """context_multiplicity (training only): [S] how many identical copies each context row stands for.
        The engine's context is 77 CLIP rows, whose padding rows (after EOS) the text encoders zero, then 77
        all-zero rows (no T5). Identical rows stay identical through every block, so attending to m copies
        equals attending to one copy with log(m) added to its logit. Training feeds the first L CLIP rows and
        one zero row with multiplicity 154 - L (exactly the same function, ~2.5x cheaper); the exported graph
        takes the full [B,154,J] context."""
        C, p, g = self.C, self.p, self.grid
        key_bias = None
        if context_multiplicity is not None:
            n_img = g * g
            key_bias = torch.cat([torch.zeros(n_img), torch.log(context_multiplicity.float())])
        x = self.pos_embed_proj(hidden_states).flatten(2).transpose(1, 2) + self.pos_embed
        if self.spatial_text is not None:
            x = x + self.spatial_text(pooled_projections).reshape(-1, g * g, self.hidden)
        temb = self.timestep_embedder(timestep_embedding(timestep)) + self.text_embedder(pooled_projections)
        emb = F.silu(temb)
        c = self.context_embedder(encoder_hidden_states)
        for blk in self.blocks:
            x, c = blk(x, c, emb, key_bias)
        scale, shift = self.norm_out(emb).unsqueeze(1).chunk(2, dim=-1)
        x = _ln(x, self.ones, self.zeros) * (1 + scale) + shift
        x = self.proj_out(x)  # [B, g*g, p*p*C]
        x = x.reshape(-1, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(-1, C, g * p, g * p)


# ---------------------------------------------------------------------------------------------
# Conditioning exactly as the engine builds it (SD3, no T5)
# ---------------------------------------------------------------------------------------------
def build_conditioning(enc1, enc2, ids1, ids2, joint_dim):
    """ids*: int64 [B,77]. Returns context [B,154,J], pooled [B,P1+P2]."""
    p1, _, hs1 = enc1(ids1)
    p2, _, hs2 = enc2(ids2)
    clip = torch.cat([hs1[-2], hs2[-2]], dim=-1)
    clip = F.pad(clip, (0, joint_dim - clip.shape[-1]))
    ctx = torch.cat([clip, torch.zeros_like(clip)], dim=1)
    return ctx, torch.cat([p1, p2], dim=-1)


def used_length(ids1, ids2):
    """Tokens up to and including the last EOS of the batch: every later row is a zeroed padding row."""
    return int(max(int(ids1.argmax(-1).max()), int(ids2.argmax(-1).max()))) + 1


def build_conditioning_dedup(enc1, enc2, ids1, ids2, joint_dim):
    """The same function as build_conditioning, cheaper: the encoders run on the first L tokens (the rest is
    padding, zeroed by the encoders), and the 154 - L all-zero rows (padding + the 77 rows SD3 appends without
    T5) are folded into one row with multiplicity 154 - L (see MMDiT.forward). Returns ctx [B, L+1, J],
    pooled, multiplicity [L+1]."""
    L = used_length(ids1, ids2)
    p1, _, hs1 = enc1(ids1[:, :L])
    p2, _, hs2 = enc2(ids2[:, :L])
    clip = torch.cat([hs1[-2], hs2[-2]], dim=-1)
    clip = F.pad(clip, (0, joint_dim - clip.shape[-1]))
    ctx = torch.cat([clip, torch.zeros_like(clip[:, :1])], dim=1)
    mult = torch.ones(L + 1)
    mult[-1] = 2 * MAX_LEN - L
    return ctx, torch.cat([p1, p2], dim=-1), mult


def count_params(m):
    return sum(p.numel() for p in m.parameters())


def check_dedup_equivalence(dit, enc1, enc2, vocab_size, joint_dim):
    """The training shortcut (the first L CLIP rows, then the 154 - L zero rows folded into one key) must compute the same
    function as the full 154-row context the exported graph gets. Checked on perturbed copies so the
    zero-initialised modulation does not hide a difference; returns the max abs difference."""
    import copy
    g = torch.Generator().manual_seed(0)
    d, e1, e2 = copy.deepcopy(dit), copy.deepcopy(enc1), copy.deepcopy(enc2)
    with torch.no_grad():
        for m in (d, e1, e2):
            for p in m.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        ids = torch.randint(0, vocab_size - 1, (2, MAX_LEN), generator=g)
        ids[0, 9] = vocab_size - 1  # EOS (the highest id) at 9 and 13: rows after it are padding
        ids[1, 13] = vocab_size - 1
        x = torch.randn(2, d.C, 8, 8, generator=g)
        t = torch.tensor([900.0, 100.0])
        c, p = build_conditioning(e1, e2, ids, ids, joint_dim)
        full = d(x, c, p, t)
        c2, p2, mult = build_conditioning_dedup(e1, e2, ids, ids, joint_dim)
        short = d(x, c2, p2, t, mult)
    return float((full - short).abs().max() / full.abs().max())
