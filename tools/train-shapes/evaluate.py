"""Fixed adherence prompt list and scoring."""
import collections

from measure import analyse
from shapes_data import COLOURS, SHAPES, article, from_tensor_range

TEMPLATES = [
    "{a} {c} {s}",
    "a big {c} {s}",
    "{a} {c} {s} on {ab} {bg} background",
    "a big {c} {s} on {ab} {bg} background",
]


def adherence_prompts(base_seed=1000):
    """45 prompts: every shape x colour, cycling through four templates; one seed each."""
    out = []
    i = 0
    for si, s in enumerate(SHAPES):
        for ci, c in enumerate(COLOURS):
            t = TEMPLATES[i % len(TEMPLATES)]
            bg = COLOURS[(ci + 1 + 2 * si) % len(COLOURS)]
            if bg == c:
                bg = COLOURS[(ci + 2) % len(COLOURS)]
            prompt = t.format(a=article(c), c=c, s=s, ab=article(bg), bg=bg)
            item = dict(prompt=prompt, seed=base_seed + i, colour=c, shape=s)
            if "{bg}" in t:
                item["background"] = bg
            out.append(item)
            i += 1
    return out


def score(items, images_uint8):
    """items: prompt dicts; images: uint8 [B,64,64,3]. Returns summary dict + per-item results."""
    per_shape = collections.defaultdict(lambda: [0, 0, 0])  # shape ok, colour ok, n
    per_colour = collections.defaultdict(lambda: [0, 0, 0])
    results = []
    c_ok = s_ok = bg_ok = bg_n = 0
    for it, img in zip(items, images_uint8):
        r = analyse(img)
        co = r["colour"] == it["colour"]
        so = r["shape"] == it["shape"]
        c_ok += co
        s_ok += so
        if "background" in it:
            bg_n += 1
            bg_ok += r["background"] == it["background"]
        for d, k in ((per_shape, it["shape"]), (per_colour, it["colour"])):
            d[k][0] += so
            d[k][1] += co
            d[k][2] += 1
        results.append(dict(prompt=it["prompt"], seed=it["seed"], colour=r["colour"], shape=r["shape"],
                            colour_ok=bool(co), shape_ok=bool(so)))
    n = len(items)
    summary = dict(
        n=n,
        colour=c_ok / n,
        shape=s_ok / n,
        background=(bg_ok / bg_n) if bg_n else None,
        per_shape={k: dict(shape=v[0] / v[2], colour=v[1] / v[2], n=v[2]) for k, v in sorted(per_shape.items())},
        per_colour={k: dict(shape=v[0] / v[2], colour=v[1] / v[2], n=v[2]) for k, v in sorted(per_colour.items())},
    )
    return summary, results


def run_adherence(pipe, items, steps, guidance, shift, seed_offset=0):
    prompts = [it["prompt"] for it in items]
    seeds = [it["seed"] + seed_offset for it in items]
    imgs = from_tensor_range(pipe.sample(prompts, seeds, steps, guidance, shift).numpy())
    summary, results = score([dict(it, seed=it["seed"] + seed_offset) for it in items], imgs)
    return summary, results, imgs
