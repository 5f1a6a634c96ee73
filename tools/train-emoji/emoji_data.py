"""The emoji data set: fetched from the npm registry, composited on white, captioned.

Sources (fetched by `npm pack` into the work dir, never committed):
- emoji-datasource-google@16.0.0 (MIT): Google's Noto Emoji images (Apache-2.0), img/google/64/<image>.png,
  and emoji.json (name, short names, category, subcategory) for 1,911 emoji (no skin-tone variants).
- emojibase-data@16.0.3 (MIT): en/data.json, a label and tags (keywords) per emoji.

Images: RGBA 64x64 composited over plain white in float (out = a * rgb + (1 - a) * 255, rounded to uint8).
Captions: lowercase ASCII words (NFKD, accents dropped, every other character a space), see `captions`.
"""
import hashlib
import json
import os
import re
import subprocess
import tarfile
import unicodedata

import numpy as np

PACKAGES = (
    ("emoji-datasource-google", "16.0.0", "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"),
    ("emojibase-data", "16.0.3", "cab288279075778f15b37f3ca60dfb17759af6fe29758e07338e248879991689"),
)
SIZE = 64
BACKGROUND = 255  # plain white


def log(msg):
    import time
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------------------------------------
def fetch(work):
    """`npm pack` both packages into work/npm (once; checked by sha256) and unpack them. Returns the two roots."""
    npm = os.path.join(work, "npm")
    os.makedirs(npm, exist_ok=True)
    roots = []
    for name, version, sha in PACKAGES:
        tgz = os.path.join(npm, "%s-%s.tgz" % (name, version))
        if not os.path.exists(tgz):
            log("fetching %s@%s from the npm registry" % (name, version))
            subprocess.run(["npm", "pack", "%s@%s" % (name, version), "--silent"], cwd=npm, check=True,
                           stdout=subprocess.DEVNULL)
        h = hashlib.sha256()
        with open(tgz, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != sha:
            raise SystemExit("%s: sha256 %s, expected %s (delete it to fetch again)" % (tgz, h.hexdigest(), sha))
        root = os.path.join(npm, "%s-%s" % (name, version))
        if not os.path.isdir(os.path.join(root, "package")):
            with tarfile.open(tgz) as t:
                t.extractall(root)
        roots.append(os.path.join(root, "package"))
    return roots


# ---------------------------------------------------------------------------------------------
def normalize(text):
    """Lowercase ASCII words separated by one space: 'Côte d’Ivoire' -> 'cote d ivoire', 'flag-fr' -> 'flag fr'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return text.strip()


def article(phrase):
    return "an" if phrase[:1] in "aeiou" else "a"


def with_article(phrase):
    return "%s %s" % (article(phrase), phrase)


def load_emoji(ds_root, eb_root):
    """The 1,911 emoji in emoji.json's sort order, with their texts. Each: dict(unified, image, category,
    subcategory, short (primary short name, normalized), shorts, name, label, tags)."""
    d = json.load(open(os.path.join(ds_root, "emoji.json")))
    d.sort(key=lambda e: e["sort_order"])
    eb = {x["hexcode"]: x for x in json.load(open(os.path.join(eb_root, "en", "data.json")))}
    out = []
    for e in d:
        if not e.get("has_img_google"):
            continue
        path = os.path.join(ds_root, "img", "google", "64", e["image"])
        if not os.path.exists(path):
            continue
        x = None
        for k in (e["unified"], e.get("non_qualified") or "", e["unified"].replace("-FE0F", "")):
            x = eb.get(k)
            if x:
                break
        shorts = [normalize(s) for s in e["short_names"]]
        out.append(dict(
            unified=e["unified"], image=path, category=e["category"], subcategory=e["subcategory"],
            short=shorts[0], shorts=[s for s in shorts if s], name=normalize(e["name"]),
            label=normalize(x["label"]) if x else "", tags=[normalize(t) for t in (x.get("tags") or [])] if x else []))
    return out


def composite(path):
    from PIL import Image
    im = Image.open(path).convert("RGBA")
    assert im.size == (SIZE, SIZE), (path, im.size)
    a = np.asarray(im).astype(np.float32)
    alpha = a[..., 3:4] / 255.0
    rgb = a[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def load_images(emoji):
    """uint8 [N, 64, 64, 3], composited on white."""
    return np.stack([composite(e["image"]) for e in emoji])


def thumbnails(images):
    """The evaluation's 32x32 thumbnails: the mean of each 2x2 block of the 64x64 RGB, rounded to uint8.
    The TypeScript test does the same with the engine's frames (test/harness/emojiNearest.ts)."""
    x = images.astype(np.float32).reshape(-1, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Captions
#
# Per emoji a fixed list of (caption, weight). "a <primary short name>" is reserved: a name, alternative
# short name or tag that equals another emoji's primary short name is not used as a caption of this one, so
# "a dog" means the dog face 🐶 (short name "dog"), not also the dog 🐕 (name "DOG", short name "dog2").
CAPTION_MIX = (
    ("short", 0.30),       # "a dog"
    ("short_bare", 0.12),  # "dog"
    ("alt", 0.08),         # other short names: "a poop", "shit" (bare half the time)
    ("name", 0.16),        # the Unicode name / emojibase label: "dog face", "a slice of pizza"
    ("tag", 0.18),         # one tag: "a pet", "puppy"
    ("tag_short", 0.08),   # a tag and the short name: "a pet dog"
    ("tags", 0.08),        # up to three tags: "dog, pet, puppy"
)


def build_captions(emoji):
    """For each emoji a list of (caption, weight) whose weights sum to 1 (the empty prompt for classifier-free
    guidance is added by the trainer)."""
    primaries = {e["short"] for e in emoji}
    out = []
    for e in emoji:
        own = e["short"]

        def free(p):
            return p and (p == own or p not in primaries)

        alts = [s for s in e["shorts"][1:] if free(s)]
        names = []
        for n in (e["name"], e["label"]):
            if free(n) and n not in names and n != own:
                names.append(n)
        tags = []
        for t in e["tags"]:
            if free(t) and t not in tags:
                tags.append(t)
        groups = {
            "short": [with_article(own)],
            "short_bare": [own],
            "alt": [c for a in alts for c in (with_article(a), a)],
            "name": [c for n in names for c in (n, with_article(n))],
            "tag": [c for t in tags for c in (with_article(t), t)],
            "tag_short": [with_article("%s %s" % (t, own)) for t in tags if t != own and t not in own.split()],
            "tags": [", ".join(tags[i:i + 3]) for i in range(0, len(tags), 3)],
        }
        # A group with no caption gives its weight to the primary short name.
        caps = {}
        for g, w in CAPTION_MIX:
            lst = groups[g] or [with_article(own)]
            for c in lst:
                caps[c] = caps.get(c, 0.0) + w / len(lst)
        out.append(sorted(caps.items(), key=lambda kv: -kv[1]))
    return out


def caption_words(captions):
    """Every word the captions use ([a-z]+ and [0-9]+ runs), sorted."""
    words = set()
    for caps in captions:
        for c, _ in caps:
            words.update(re.findall(r"[a-z]+|[0-9]+", c))
    return sorted(words)


def token_words(captions):
    """The words the tokenizer gets one token each for: every [a-z]+ run (digits are single-character
    tokens already, as in CLIP)."""
    return [w for w in caption_words(captions) if re.fullmatch(r"[a-z]+", w)]


class CaptionSampler:
    """Seeded draws: emoji uniformly, then a caption by weight, then '' with probability cfg_dropout."""

    def __init__(self, captions, cfg_dropout):
        self.captions = captions
        self.cfg_dropout = cfg_dropout
        self.cum = [np.cumsum([w for _, w in caps]) for caps in captions]

    def draw(self, rng, batch):
        idx = rng.randint(0, len(self.captions), size=batch)
        u = rng.random_sample(batch)
        drop = rng.random_sample(batch) < self.cfg_dropout
        caps = []
        for i, uu, d in zip(idx, u, drop):
            k = min(int(np.searchsorted(self.cum[i], uu * self.cum[i][-1], side="right")), len(self.cum[i]) - 1)
            caps.append("" if d else self.captions[i][k][0])
        return idx, caps


def load_dataset(work):
    """Everything the trainer needs, cached in work/dataset.npz (+ .json)."""
    cache = os.path.join(work, "dataset.npz")
    meta_path = os.path.join(work, "dataset.json")
    if os.path.exists(cache) and os.path.exists(meta_path):
        emoji = json.load(open(meta_path))
        images = np.load(cache)["images"]
        return emoji, images
    ds_root, eb_root = fetch(work)
    emoji = load_emoji(ds_root, eb_root)
    log("composited %d emoji on white" % len(emoji))
    images = load_images(emoji)
    np.savez(cache, images=images)
    with open(meta_path, "w") as f:
        json.dump(emoji, f)
    return emoji, images
