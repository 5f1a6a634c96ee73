"""Captioned 64x64 images of simple shapes, drawn on the fly from a seeded stream.

Every image is one shape of one colour on a plain background of another colour.
Shapes are drawn 4x supersampled with PIL and box-filtered down, so edges are
anti-aliased the way a VAE decoder's output looks.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64
SUPERSAMPLE = 4

SHAPES = ["circle", "square", "triangle", "ring", "star"]

# Well separated in RGB (smallest pairwise distance: orange-yellow, ~95).
PALETTE = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 230, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "purple": (140, 40, 190),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}
COLOURS = list(PALETTE)

SIZES = ["small", "big"]
# Extent (bounding-box side, pixels at 64x64) ranges per size.
SIZE_RANGE = {"small": (19.0, 23.0), "big": (29.0, 33.0)}

POSITIONS = ["top left", "top right", "bottom left", "bottom right", "center"]
_LO, _HI, _MID = 18.0, 46.0, 32.0
POSITION_CENTRE = {
    "top left": (_LO, _LO),
    "top right": (_HI, _LO),
    "bottom left": (_LO, _HI),
    "bottom right": (_HI, _HI),
    "center": (_MID, _MID),
}
POSITION_JITTER = 1.5
POSITION_WEIGHTS = {"top left": 0.15, "top right": 0.15, "bottom left": 0.15, "bottom right": 0.15, "center": 0.4}
# A caption always names a corner position; the centre may go unnamed. So "a red circle" means one
# centred red circle (as a photo of "a red circle" would be framed), not a mix of five places: a
# caption without a position has one answer, which a tiny model learns far faster than five.
CENTER_NAMED = 0.4

STAR_INNER_RATIO = 0.45
RING_INNER_RATIO = 0.5

# Every word a caption can contain (the tokenizer gives each a whole-word token).
CAPTION_WORDS = sorted(
    set(
        ["a", "an", "on", "background", ","]
        + SHAPES
        + COLOURS
        + SIZES
        + [w for p in POSITIONS for w in p.split()]
    )
)


def _polygon_star(cx, cy, r_out, r_in, points=5):
    pts = []
    for k in range(points * 2):
        ang = -math.pi / 2 + k * math.pi / points
        r = r_out if k % 2 == 0 else r_in
        pts.append((cx + r * math.cos(ang), cy + r * math.sin(ang)))
    return pts


def draw_shape(shape, colour, background, cx, cy, extent):
    """Return a uint8 HxWx3 array. (cx, cy) centre and extent in 64x64 pixel units."""
    s = SUPERSAMPLE
    n = IMAGE_SIZE * s
    img = Image.new("RGB", (n, n), PALETTE[background])
    d = ImageDraw.Draw(img)
    fg = PALETTE[colour]
    X, Y, E = cx * s, cy * s, extent * s
    h = E / 2.0
    if shape == "circle":
        d.ellipse([X - h, Y - h, X + h, Y + h], fill=fg)
    elif shape == "square":
        q = h * 0.9
        d.rectangle([X - q, Y - q, X + q, Y + q], fill=fg)
    elif shape == "triangle":
        # Upright equilateral triangle of width E, centred on its bounding box.
        th = E * math.sqrt(3) / 2.0
        d.polygon([(X, Y - th / 2), (X + h, Y + th / 2), (X - h, Y + th / 2)], fill=fg)
    elif shape == "ring":
        d.ellipse([X - h, Y - h, X + h, Y + h], fill=fg)
        r = h * RING_INNER_RATIO
        d.ellipse([X - r, Y - r, X + r, Y + r], fill=PALETTE[background])
    elif shape == "star":
        # Outer radius chosen so the star's bounding box is about as big as the others.
        ro = h * 1.05
        # Star bbox height is ro*(1+cos 36deg); centre it vertically.
        off = (ro - ro * math.cos(math.pi / 5)) / 2.0
        d.polygon(_polygon_star(X, Y + off, ro, ro * STAR_INNER_RATIO), fill=fg)
    else:
        raise ValueError(shape)
    img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
    return np.asarray(img, dtype=np.uint8)


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def make_caption(attrs, rng):
    """Caption from the template "a {size} {colour} {shape} on a {bg} background, {position}",
    with size, colour and background each left out at random, and the position left out (at random)
    only when it is the centre."""
    words = []
    if rng.random_sample() < 0.5:
        words.append(attrs["size"])
    if rng.random_sample() < 0.9:
        words.append(attrs["colour"])
    words.append(attrs["shape"])
    cap = article(words[0]) + " " + " ".join(words)
    if rng.random_sample() < 0.5:
        cap += " on %s %s background" % (article(attrs["background"]), attrs["background"])
    named = rng.random_sample() < CENTER_NAMED
    if attrs["position"] != "center" or named:
        cap += ", " + attrs["position"]
    return cap


def sample_attrs(rng):
    shape = SHAPES[rng.randint(len(SHAPES))]
    colour = COLOURS[rng.randint(len(COLOURS))]
    bgs = [c for c in COLOURS if c != colour]
    background = bgs[rng.randint(len(bgs))]
    size = SIZES[rng.randint(len(SIZES))]
    u = rng.random_sample()
    position = POSITIONS[-1]
    for p in POSITIONS:
        if u < POSITION_WEIGHTS[p]:
            position = p
            break
        u -= POSITION_WEIGHTS[p]
    return dict(shape=shape, colour=colour, background=background, size=size, position=position)


def render_attrs(attrs, rng):
    lo, hi = SIZE_RANGE[attrs["size"]]
    extent = lo + (hi - lo) * rng.random_sample()
    cx, cy = POSITION_CENTRE[attrs["position"]]
    cx += (rng.random_sample() * 2 - 1) * POSITION_JITTER
    cy += (rng.random_sample() * 2 - 1) * POSITION_JITTER
    return draw_shape(attrs["shape"], attrs["colour"], attrs["background"], cx, cy, extent)


class ShapeStream:
    """Infinite seeded stream of (image uint8 [64,64,3], caption, attrs)."""

    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)

    def sample(self):
        attrs = sample_attrs(self.rng)
        img = render_attrs(attrs, self.rng)
        cap = make_caption(attrs, self.rng)
        return img, cap, attrs

    def caption_only(self):
        return make_caption(sample_attrs(self.rng), self.rng)

    def batch(self, n):
        imgs, caps, attrs = [], [], []
        for _ in range(n):
            i, c, a = self.sample()
            imgs.append(i)
            caps.append(c)
            attrs.append(a)
        return np.stack(imgs), caps, attrs


def to_tensor_range(imgs_uint8):
    """uint8 [B,H,W,3] -> float32 [B,3,H,W] in [-1, 1] (numpy)."""
    x = imgs_uint8.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def from_tensor_range(x):
    """float [B,3,H,W] in ~[-1,1] -> uint8 [B,H,W,3], exactly as the engine post-processes."""
    x = np.clip((np.asarray(x, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)
    return np.round(x * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


# Attribute groups a caption can mention, for the text encoders' auxiliary loss (class 0 = not mentioned).
ATTRIBUTE_CLASSES = {"shape": SHAPES, "colour": COLOURS, "background": COLOURS, "size": SIZES,
                     "position": POSITIONS}


def caption_attributes(caption):
    """Which value of each attribute a caption (from make_caption, or "") names: {group: index}, 0 = none."""
    words = caption.replace(",", " ,").split()
    out = {k: 0 for k in ATTRIBUTE_CLASSES}
    for i, w in enumerate(words):
        if w in SHAPES:
            out["shape"] = SHAPES.index(w) + 1
            if i > 0 and words[i - 1] in COLOURS:
                out["colour"] = COLOURS.index(words[i - 1]) + 1
        elif w in SIZES:
            out["size"] = SIZES.index(w) + 1
        elif w == "background" and i > 0 and words[i - 1] in COLOURS:
            out["background"] = COLOURS.index(words[i - 1]) + 1
    if "," in words:
        pos = " ".join(words[words.index(",") + 1:])
        if pos in POSITIONS:
            out["position"] = POSITIONS.index(pos) + 1
    return out
